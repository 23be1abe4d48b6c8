"""Events of the fee ledger."""

from __future__ import annotations

from typing import ClassVar

import attrs

from propcare.notify.outbox import Event

__all__ = ["EntryPosted"]


@attrs.frozen
class EntryPosted(Event):
    topic: ClassVar[str] = "ledger.entry_posted"
    entry_id: int
    kind: str
    total_fen: int
    reverses: int | None
