"""Events a ticket sends to subscribers, after commit."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from propcare.notify.outbox import Event

__all__ = ["SlaAlerted", "TicketChanged", "TicketsImported"]


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

    def payload(self) -> dict[str, Any]:
        # What Event.payload gives, by hand: attrs.asdict walks the class on every call,
        # and this event is written for every change of every ticket.
        return {
            "ticket_id": self.ticket_id,
            "seq": self.seq,
            "action": self.action,
            "status": self.status,
            "actor": self.actor,
            "category": self.category,
        }


@attrs.frozen
class SlaAlerted(Event):
    """A warning before a breach, or an escalation after one (each sent once).

    ``target`` is an SLA target (response, arrival, resolution, callback) or ``outside``:
    an outside work order whose promised day has passed while it is not done, one alert
    per order, numbered ``order`` (1 for the first dispatched) and sent to ``party``.
    ``due`` is the deadline in the estate's time zone (for an outside order, the end of
    its promised day).
    """

    topic: ClassVar[str] = "ticket.sla_alert"
    ticket_id: int
    target: str
    level: str  # warning | supervisor | manager
    due: str
    # The years of holiday data a provisional deadline was computed without ("2027"), or "".
    provisional: str = ""
    order: int | None = None  # the outside order's number, for target "outside"
    party: str = ""  # the party the outside order was sent to


@attrs.frozen
class TicketsImported(Event):
    """Historical tickets stored by one ``import_history`` call.

    One event for the whole import, not one per ticket: an import of a year's records
    would otherwise flood every subscriber with 30,000 changes that happened long ago.
    The new tickets have the ids ``first_id`` to ``last_id``, all of them, in input order.
    """

    topic: ClassVar[str] = "ticket.imported"
    count: int
    first_id: int
    last_id: int
