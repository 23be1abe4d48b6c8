"""Events of the fee ledger."""

from __future__ import annotations

from typing import ClassVar

import attrs

from propcare.notify.outbox import Event

__all__ = ["BillRun", "EntryPosted"]


@attrs.frozen
class EntryPosted(Event):
    topic: ClassVar[str] = "ledger.entry_posted"
    entry_id: int
    kind: str
    total_fen: int
    reverses: int | None


@attrs.frozen
class BillRun(Event):
    """A bill run that billed something (one event per run, not one per bill)."""

    topic: ClassVar[str] = "ledger.bill_run"
    period: str
    billed: int
    already: int
    total_fen: int
