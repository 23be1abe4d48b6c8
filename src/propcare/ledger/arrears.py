"""Arrears (欠费), aging and the collection rate (收缴率), as values and pure rules.

All of it is derived from receivable postings, which carry the unit, fee item and
billing period.

**Due dates.** A bill of a bill run is due on the date its fee item's terms give (``due``:
days after the period starts, 15 by default, or the end of the period's first month),
stored on the bill when it is run. A receivable line without such a bill (a one-off
charge at the counter, a paid service, a late fee) is due the day it was first charged,
in the estate's time zone. A line is *past due* from the day after its due date; the
roster and aging count only what is past due unless asked to include what is billed but
not yet due, and aging counts the days past the due date.

**The collection rate** of a set of periods is the cash collected for their bills over
what was billed for them, as it stood at a stated cut-off (by default the last instant
of the last period, or now while it runs). Credits that settled the bills without cash
(compensation, 折抵补偿金, and any other kind of credit) are reported beside it and left
out of the rate; late fees are left out of both (the rate measures fees, not penalties).
Owner credit applied to a bill counts as what put the credit there: a prepayment is
cash, the remainder of a compensation is compensation, money a correction released from
a settled bill is what had settled it (used first in, first out: :func:`credit_sources`).

The definitions, for people: docs/explanation/collection-figures.md.
"""

from __future__ import annotations

import itertools
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

import attrs

from propcare.errors import ValidationError
from propcare.money import ZERO
from propcare.period import Period
from propcare.validators import bounded_int, text

__all__ = [
    "CASH_KINDS",
    "CHARGE_KINDS",
    "DEFAULT_BUCKETS",
    "NOT_DUE",
    "AgingBucket",
    "ArrearsLine",
    "CollectionRate",
    "CreditMove",
    "bucket_of",
    "check_buckets",
    "collection_cutoff",
    "credit_sources",
    "period_start",
    "settled_by",
]


# An age in days a bucket may name: two centuries, past any bill propcare keeps.
MAX_DAYS = 73_000
# The label of what is billed but not yet due, when aging is asked to include it.
NOT_DUE = "not_due"

# How a receivable posting counts in the collection rate, by the kind of its entry (for a
# reversal, the kind of the entry it undoes): a bill bills, these collect cash, a
# compensation credits; any other kind that moves a receivable is another credit. A
# payment that arrived for no known order and was then put to a unit (suspense) is cash.
BILL_KIND = "bill"
CASH_KINDS = ("payment", "refund", "credit_applied", "suspense")
COMPENSATION_KIND = "compensation"
CREDIT_APPLIED_KIND = "credit_applied"


def period_start(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


@attrs.frozen
class AgingBucket:
    """Days past the due date, ``low`` to ``high`` inclusive (``high`` None: and more)."""

    label: str
    low: int
    high: int | None


DEFAULT_BUCKETS: tuple[AgingBucket, ...] = (
    AgingBucket("0-30", 0, 30),
    AgingBucket("31-90", 31, 90),
    AgingBucket("91-180", 91, 180),
    AgingBucket("181-365", 181, 365),
    AgingBucket("1-2y", 366, 730),
    AgingBucket("2-3y", 731, 1095),
    AgingBucket(">3y", 1096, None),
)


def check_buckets(buckets: Sequence[AgingBucket]) -> None:
    """Buckets must start at 0, follow each other without gap or overlap, and end open;
    each a labelled AgingBucket of whole days (at most 100 of them)."""
    if isinstance(buckets, str | bytes | Mapping) or not isinstance(buckets, Sequence):
        raise ValidationError("buckets", buckets, "must be a list of AgingBucket")
    if len(buckets) > 100:
        raise ValidationError("buckets", len(buckets), "at most 100")
    for i, bucket in enumerate(buckets):
        if not isinstance(bucket, AgingBucket):
            raise ValidationError(f"buckets[{i}]", bucket, "must be an AgingBucket")
        text(f"buckets[{i}].label", bucket.label)
        if bucket.label == NOT_DUE:
            raise ValidationError(f"buckets[{i}].label", bucket.label, "is aging's own label")
        bounded_int(f"buckets[{i}].low", bucket.low, 0, MAX_DAYS)
        if bucket.high is not None:
            bounded_int(f"buckets[{i}].high", bucket.high, 0, MAX_DAYS)
    if not buckets or buckets[0].low != 0 or buckets[-1].high is not None:
        raise ValidationError("buckets", [b.label for b in buckets], "start at 0 and end open")
    for before, after in itertools.pairwise(buckets):
        if before.high is None or after.low != before.high + 1:
            raise ValidationError(
                "buckets", [before.label, after.label], "must follow each other without gap"
            )


def bucket_of(days_past_due: int, buckets: Sequence[AgingBucket]) -> AgingBucket:
    for bucket in buckets:
        if days_past_due >= bucket.low and (bucket.high is None or days_past_due <= bucket.high):
            return bucket
    return buckets[0]  # not past due (aging was asked to include it): the first bucket


@attrs.frozen
class ArrearsLine:
    """One line of the arrears roster (欠费清单): a unit's unpaid fee item.

    ``periods`` and ``amount`` are what is past due, and with ``include_not_due`` also
    what is billed but not yet due (``not_due`` of the amount). ``due_date`` is the
    earliest due date of the periods and ``days_past_due`` the days since it (zero or
    less: nothing of the line is past due yet)."""

    unit_id: int
    building: str
    unit: str
    owner: str
    phone: str  # masked unless the caller may see it in full
    fee_item: str
    periods: tuple[str, ...]
    years: tuple[int, ...]
    amount: Decimal
    collector_staff_id: int | None = None
    last_attempt: str = ""  # "2026-11-07 visit nobody_home": the latest by when it happened
    due_date: date | None = None
    days_past_due: int = 0
    not_due: Decimal = ZERO


@attrs.frozen
class CollectionRate:
    """收缴率 of the bills of a set of periods, as it stood at ``as_of`` (the cut-off).

    ``billed`` is what was billed for the periods (a reversed bill un-bills); ``cash``
    what owners paid for those bills (payments at the counter or through a gateway, and
    prepaid owner credit applied to them; refunds and reversed payments take it back);
    ``compensation`` what compensation credits (折抵补偿金) settled and ``other_credits``
    what any other non-cash credit settled. ``rate`` is cash over billed: what collectors
    are paid on and what the reports call 收缴率; the credits are shown beside it, never
    in it. Late fees are in none of them."""

    group: str | int | None
    billed: Decimal
    cash: Decimal
    compensation: Decimal
    other_credits: Decimal
    as_of: datetime

    @property
    def credits(self) -> Decimal:
        """All that settled the bills without cash: compensation and other credits."""
        return self.compensation + self.other_credits

    @property
    def collected(self) -> Decimal:
        """The cash collected (the same as :attr:`cash`; credits are not collected)."""
        return self.cash

    @property
    def rate(self) -> Decimal | None:
        """Cash over billed, to four places; None if nothing was billed (never 100%)."""
        if self.billed == 0:
            return None
        return (self.cash / self.billed).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def collection_cutoff(last_period: str, zone: tzinfo, now: datetime) -> datetime:
    """The collection rate's default cut-off: the last instant of ``last_period`` in the
    estate's time zone (money dated the next month's first instant is out), or ``now``
    while that month is still running."""
    _start, end = Period.parse(last_period, "last_period").bounds(zone)
    return min(end - timedelta(microseconds=1), now)


def settled_by(kind: str) -> str:
    """What a receivable posting of an entry of ``kind`` (for a reversal, the kind it
    undoes) counts as in the collection rate: ``billed``, ``cash``, ``compensation`` or
    ``other_credits``."""
    if kind == BILL_KIND:
        return "billed"
    if kind in CASH_KINDS:
        return "cash"
    if kind == COMPENSATION_KIND:
        return "compensation"
    return "other_credits"


# --- where owner credit came from ------------------------------------------------------


@attrs.frozen
class CreditMove:
    """What one journal entry did to a unit's owner credit and receivable lines, for
    tracing applied credit to its source.

    ``credit`` is the fen posted to owner credit (negative: the credit grew); ``settled``
    the entry's receivable postings ``(fee item, period, fen)`` for the unit (negative fen
    settles a line, positive reopens it), left out for entries that charge (a bill, a
    late fee, or a reversal of one). ``kind`` is the entry's kind, or for a reversal the
    kind of the entry it undoes; ``reverses`` names that entry."""

    entry_id: int
    at: datetime
    kind: str
    credit: int
    settled: tuple[tuple[str, str, int], ...] = ()
    reverses: int | None = None


# Entries of these kinds charge a receivable line; every other kind settles or reopens one.
CHARGE_KINDS = (BILL_KIND, "late_fee")
_CASH, _COMPENSATION, _OTHER, _DEBT = "cash", "compensation", "other_credits", "debt"
# The order in which a line gives back what settled it, when money leaves it for owner
# credit (see _Tracer._release).
_GIVE_BACK = (_CASH, _OTHER, _COMPENSATION)

_Line = tuple[str, str]
_Piece = tuple[str, str, str, int]  # fee item, period, source, fen


def _nothing() -> dict[str, int]:
    return dict.fromkeys(_GIVE_BACK, 0)


def _take(
    layers: deque[list[object]], amount: int, *, newest: bool, prefer: str | None = None
) -> list[tuple[str, int]]:
    """Take ``amount`` fen out of the credit ``layers`` ([source, fen], oldest first):
    oldest first, or newest first (from layers of source ``prefer`` before the others).
    What the layers cannot give is debt."""
    taken: list[tuple[str, int]] = []
    left = amount
    order = list(range(len(layers)))
    if newest:
        order.reverse()
        if prefer is not None:
            order = [i for i in order if layers[i][0] == prefer] + [
                i for i in order if layers[i][0] != prefer
            ]
    for i in order:
        if not left:
            break
        source, fen = layers[i]
        assert isinstance(source, str) and isinstance(fen, int)
        part = min(fen, left)
        taken.append((source, part))
        layers[i][1] = fen - part
        left -= part
    for i in range(len(layers) - 1, -1, -1):
        if layers[i][1] == 0:
            del layers[i]
    if left:
        taken.append((_DEBT, left))
    return taken


class _Tracer:
    """One unit's owner credit as layers marked by their source, and what settles each
    of its receivable lines, by source (see :func:`credit_sources`)."""

    def __init__(self) -> None:
        self.layers: deque[list[object]] = deque()
        self.debt = 0
        # What settles each line, by source: through credit applications, and directly.
        self.by_credit: dict[_Line, dict[str, int]] = defaultdict(_nothing)
        self.direct: dict[_Line, dict[str, int]] = defaultdict(_nothing)
        # Each credit application not undone: the layers it took and how it settled lines.
        self.applied: dict[int, tuple[list[tuple[str, int]], list[_Piece]]] = {}
        self.out: list[tuple[datetime, str, str, str, int]] = []

    def move(self, move: CreditMove) -> None:
        if move.kind != CREDIT_APPLIED_KIND:
            self._direct(move)
        elif move.credit > 0:
            self._apply(move)
        elif move.credit < 0 and move.reverses in self.applied:
            self._undo(move)
        elif move.credit < 0:
            self._release(move)

    def _settle(self, at: datetime, item: str, period: str, source: str, fen: int) -> None:
        """``fen`` more of the line settled by ``source`` (negative: less); a credit
        application's non-cash part is reported (the rate counts it as cash otherwise)."""
        held = self.by_credit[(item, period)]
        held[source] = max(0, held[source] + fen)
        if source != _CASH:
            self.out.append((at, item, period, source, fen))

    def _direct(self, move: CreditMove) -> None:
        """A payment, compensation, refund, other credit or a reversal of one."""
        if move.kind in CHARGE_KINDS:  # a charge settles nothing (and holds no credit)
            source = _CASH
        else:
            source = settled_by(move.kind)
            for item, period, fen in move.settled:
                held = self.direct[(item, period)]
                held[source] = max(0, held[source] - fen)
        if move.credit < 0:
            self._receive({source: -move.credit})
        elif move.credit > 0:
            taken = _take(self.layers, move.credit, newest=True, prefer=source)
            self.debt += sum(f for s, f in taken if s == _DEBT)

    def _apply(self, move: CreditMove) -> None:
        """Credit applied to lines: the oldest layers first (undoing a release: the
        newest, what it gave back)."""
        taken = _take(self.layers, move.credit, newest=move.reverses is not None)
        self.debt += sum(f for s, f in taken if s == _DEBT)
        parts = deque([[_CASH if s == _DEBT else s, f] for s, f in taken])
        pieces: list[_Piece] = []
        for item, period, amount in move.settled:
            need = -amount
            while need > 0:
                source, have = parts[0] if parts else (_CASH, need)
                assert isinstance(source, str) and isinstance(have, int)
                part = min(need, have)
                pieces.append((item, period, source, part))
                need -= part
                if parts:
                    parts[0][1] = have - part
                    if parts[0][1] == 0:
                        parts.popleft()
        for item, period, source, fen in pieces:
            self._settle(move.at, item, period, source, fen)
        self.applied[move.entry_id] = (taken, pieces)

    def _undo(self, move: CreditMove) -> None:
        """A credit application reversed: its lines lose what it settled and the layers
        it took come back (debt it ran up is forgiven; if repaid, as cash)."""
        assert move.reverses is not None
        taken, pieces = self.applied.pop(move.reverses)
        for item, period, source, fen in pieces:
            self._settle(move.at, item, period, source, -fen)
        for source, fen in reversed(taken):
            if source == _DEBT:
                forgiven = min(self.debt, fen)
                self.debt -= forgiven
                source, fen = _CASH, fen - forgiven
            if fen:
                self.layers.appendleft([source, fen])

    def _release(self, move: CreditMove) -> None:
        """Money leaves lines for owner credit: a correction un-billed what was settled,
        or credit taken back reopens what it settled. As the ledger reads it, a line
        gives back what credit applications settled on it first, then what settled it
        directly; within each, cash first, then other credits, compensation last. The
        credit keeps the source."""
        back = dict.fromkeys(_GIVE_BACK, 0)
        for item, period, amount in move.settled:
            left = amount
            for applied in (True, False):
                held = (self.by_credit if applied else self.direct)[(item, period)]
                for source in _GIVE_BACK:
                    part = min(left, held[source])
                    if part <= 0:
                        continue
                    if applied:
                        self._settle(move.at, item, period, source, -part)
                    else:  # the rate counts the release as cash: move it to its source
                        held[source] -= part
                        if source != _CASH:
                            self.out.append((move.at, item, period, source, -part))
                    back[source] += part
                    left -= part
            back[_CASH] += max(left, 0)
        back[_CASH] += max(0, -move.credit - sum(back.values()))
        self._receive(back)

    def _receive(self, incoming: dict[str, int]) -> None:
        """Credit grows: what was taken beyond the layers is repaid first (from cash
        first), the rest becomes layers of its source."""
        for source in _GIVE_BACK:
            fen = incoming.get(source, 0)
            repaid = min(self.debt, fen)
            self.debt -= repaid
            if fen - repaid:
                self.layers.append([source, fen - repaid])


def credit_sources(moves: Iterable[CreditMove]) -> list[tuple[datetime, str, str, str, int]]:
    """The non-cash part of credit applications, for one unit.

    ``moves`` are the unit's entries that touch its owner credit or settle its receivable
    lines, in the order they were posted. Owner credit is kept as layers marked by what
    put them there: the remainder of a compensation is compensation; an overpayment or a
    prepayment is cash; money a line gave back to credit (a correction released it) is
    what had settled the line: what credit applications settled first (as the ledger
    reads a release), then what settled it directly, within each cash first and
    compensation last. A credit application takes from the oldest layer first; anything
    else that takes credit away (a refund, a reversal) takes from the newest layer of its
    own source first. Credit taken beyond what there is, and what later repays it, is
    cash. Undoing a credit application gives back what it took.

    Returns (at, fee item, period, source, fen) for every part of a credit application's
    receivable postings (and of a release, which is one run backwards) settled by
    ``compensation`` or ``other_credits``, negative where it is undone or given back: the
    collection rate counts those postings as cash and moves these parts to their source.
    """
    tracer = _Tracer()
    for move in moves:
        tracer.move(move)
    return tracer.out
