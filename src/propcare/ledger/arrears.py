"""Arrears (欠费), aging and the collection rate (收缴率), as values and pure rules.

All of it is derived from receivable postings, which carry the unit, fee item and
billing period. A period's age is counted from its first day; late fees are left
out of the collection rate (it measures fees, not penalties).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import attrs

from propcare.errors import ValidationError
from propcare.validators import bounded_int, text

__all__ = [
    "DEFAULT_BUCKETS",
    "AgingBucket",
    "ArrearsLine",
    "CollectionRate",
    "bucket_of",
    "check_buckets",
    "period_start",
]


# An age in days a bucket may name: two centuries, past any bill propcare keeps.
MAX_DAYS = 73_000


def period_start(period: str) -> date:
    year, month = period.split("-")
    return date(int(year), int(month), 1)


@attrs.frozen
class AgingBucket:
    """Days past the period's start, ``low`` to ``high`` inclusive (``high`` None: and more)."""

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


def bucket_of(age_days: int, buckets: Sequence[AgingBucket]) -> AgingBucket:
    for bucket in buckets:
        if age_days >= bucket.low and (bucket.high is None or age_days <= bucket.high):
            return bucket
    return buckets[0]  # a period not started yet (billed in advance) counts as new


@attrs.frozen
class ArrearsLine:
    """One line of the arrears roster (欠费清单): a unit's unpaid fee item."""

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
    last_attempt: str = ""  # "2026-11-07 visit nobody_home"


@attrs.frozen
class CollectionRate:
    """Collected over billed for the bills of a set of periods; ``rate`` None if nothing billed."""

    group: str | int | None
    billed: Decimal
    collected: Decimal

    @property
    def rate(self) -> Decimal | None:
        if self.billed == 0:
            return None
        return (self.collected / self.billed).quantize(Decimal("0.0001"), ROUND_HALF_UP)
