"""Journal entries and postings: balanced by construction, never changed afterwards.

A correction is a new entry (:func:`reversal`) dated when it is made; the storage
backend refuses to update or delete a stored posting. A receivable line never stays
below zero: when a correction un-bills what was already settled, the settled money is
released to the owner's credit (:func:`release`) and applied like any credit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from propcare.errors import ValidationError
from propcare.ledger.accounts import Account, EntryKind
from propcare.validators import aware, enum_member, non_empty

__all__ = ["JournalEntry", "Posting", "Receipt", "release", "reversal"]

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _account(value: Any) -> Account:
    return enum_member(Account, "account", value)


def _kind(value: Any) -> EntryKind:
    return enum_member(EntryKind, "kind", value)


def _fen(_inst: Any, _attr: Any, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("amount_fen", value, "a posting is an integer number of fen")
    if value == 0:
        raise ValidationError("amount_fen", value, "a posting of zero fen says nothing")


def _period(_inst: Any, _attr: Any, value: Any) -> None:
    if value is not None and not (isinstance(value, str) and _PERIOD.match(value)):
        raise ValidationError("period", value, "a billing period is written YYYY-MM")


@attrs.frozen
class Posting:
    """One line of an entry: ``amount_fen`` > 0 debits ``account``, < 0 credits it."""

    account: Account = attrs.field(converter=_account)
    amount_fen: int = attrs.field(validator=_fen)
    unit_id: int | None = None
    fee_item: str | None = None
    period: str | None = attrs.field(default=None, validator=_period)
    sub: str = ""  # the gateway of a clearing account, the fee item of revenue, ...

    def __attrs_post_init__(self) -> None:
        # Receivables are kept per unit, fee item and period so every report derives from them.
        if self.account is Account.RECEIVABLE and (
            self.unit_id is None or not self.fee_item or self.period is None
        ):
            raise ValidationError(
                "posting",
                self.account.value,
                "a receivable posting names its unit_id, fee_item and period",
            )
        if self.account in (Account.OWNER_CREDIT, Account.DEPOSITS_HELD) and self.unit_id is None:
            raise ValidationError(
                "posting", self.account.value, "owner credit and deposits are kept per unit"
            )


def _postings(value: Iterable[Posting]) -> tuple[Posting, ...]:
    return tuple(value)


def _balanced(inst: JournalEntry, _attr: Any, postings: tuple[Posting, ...]) -> None:
    if len(postings) < 2:
        raise ValidationError("postings", len(postings), "an entry has at least two postings")
    total = sum(p.amount_fen for p in postings)
    if total != 0:
        raise ValidationError(
            "postings", total, "debits and credits must balance (the fen sum to zero)"
        )


@attrs.frozen
class JournalEntry:
    """A balanced set of postings that happened together, with its idempotency key."""

    estate_id: int
    kind: EntryKind = attrs.field(converter=_kind)
    at: datetime = attrs.field(validator=aware("at"))
    key: str = attrs.field(validator=non_empty("key"))
    actor: str = attrs.field(validator=non_empty("actor"))
    postings: tuple[Posting, ...] = attrs.field(converter=_postings, validator=_balanced)
    memo: str = ""
    reverses: int | None = None  # the entry this one reverses

    @property
    def total_fen(self) -> int:
        """The size of the entry: the sum of its debits."""
        return sum(p.amount_fen for p in self.postings if p.amount_fen > 0)


def reversal(
    entry: JournalEntry, entry_id: int, *, at: datetime, actor: str, reason: str
) -> JournalEntry:
    """The entry that undoes ``entry`` (stored as ``entry_id``), dated when it is made."""
    if entry.kind is EntryKind.REVERSAL:
        raise ValidationError("entry_id", entry_id, "a reversal is not reversed; post anew")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("reason", reason, "a reversal needs a reason")
    return JournalEntry(
        estate_id=entry.estate_id,
        kind=EntryKind.REVERSAL,
        at=at,
        key=f"reversal:{entry_id}",
        actor=actor,
        postings=tuple(attrs.evolve(p, amount_fen=-p.amount_fen) for p in entry.postings),
        memo=reason.strip(),
        reverses=entry_id,
    )


def release(
    estate_id: int,
    unit_id: int,
    lines: Iterable[tuple[str, str, int]],
    *,
    at: datetime,
    actor: str,
    key: str,
    memo: str,
) -> JournalEntry | None:
    """The entry that moves what settled lines now in credit (fee item, period, fen
    below zero) to the unit's owner credit; None when no line is below zero.

    Its kind is CREDIT_APPLIED, run backwards (as when credit taken back reopens bills):
    the money leaves the line it settled, so the line no longer counts it as collected,
    and it counts again where the credit is applied next.
    """
    postings = [
        Posting(Account.RECEIVABLE, -fen, unit_id, fee_item, period)
        for fee_item, period, fen in lines
        if fen < 0
    ]
    if not postings:
        return None
    total = sum(p.amount_fen for p in postings)
    return JournalEntry(
        estate_id=estate_id,
        kind=EntryKind.CREDIT_APPLIED,
        at=at,
        key=key,
        actor=actor,
        postings=(*postings, Posting(Account.OWNER_CREDIT, -total, unit_id)),
        memo=memo,
    )


@attrs.frozen
class Receipt:
    estate_id: int
    year: int
    number: int
    entry_id: int
    issued_at: datetime
    voided_at: datetime | None = None
    void_reason: str | None = None

    @property
    def label(self) -> str:
        """As printed: 2026-000123."""
        return f"{self.year}-{self.number:06d}"
