"""Events a ticket sends to subscribers, after commit."""

from __future__ import annotations

from typing import ClassVar

import attrs

from propcare.notify.outbox import Event

__all__ = ["SlaAlerted", "TicketChanged"]


@attrs.frozen
class TicketChanged(Event):
    """Every entry of a ticket's history, as it happened."""

    topic: ClassVar[str] = "ticket.changed"
    ticket_id: int
    seq: int
    action: str
    status: str
    actor: str
    category: str


@attrs.frozen
class SlaAlerted(Event):
    """A warning before a breach, or an escalation after one (each sent once)."""

    topic: ClassVar[str] = "ticket.sla_alert"
    ticket_id: int
    target: str
    level: str  # warning | supervisor | manager
    due: str
