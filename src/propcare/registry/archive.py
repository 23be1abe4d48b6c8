"""The owner archive (业主档案): one row per unit with its current owner, for export.

Phones and ID numbers are masked unless the caller asks for them in full *and*
the actor's role allows ``owner.reveal_contact``; asking without the right is
refused rather than quietly masked, so an export never claims to be complete
when it is not.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO

import attrs

__all__ = ["ARCHIVE_HEADERS", "ArchiveRow", "write_archive_csv"]


@attrs.frozen
class ArchiveRow:
    building: str
    unit: str
    floor_area: str
    use: str
    handover_date: str
    owner: str
    phones: str
    id_card: str
    owner_since: str


ARCHIVE_HEADERS: dict[str, tuple[str, ...]] = {
    "zh-CN": (
        "楼栋",
        "房号",
        "建筑面积(㎡)",
        "用途",
        "交付日期",
        "业主",
        "电话",
        "身份证号",
        "入住日期",
    ),
    "en": (
        "Building",
        "Unit",
        "Floor area (m2)",
        "Use",
        "Handover date",
        "Owner",
        "Phones",
        "ID card",
        "Owner since",
    ),
}


def write_archive_csv(rows: Iterable[ArchiveRow], out: IO[str], locale: str = "zh-CN") -> int:
    """Write the rows as CSV with headers in ``locale``; returns the number of rows."""
    writer = csv.writer(out)
    writer.writerow(ARCHIVE_HEADERS.get(locale, ARCHIVE_HEADERS["zh-CN"]))
    count = 0
    for row in rows:
        writer.writerow(attrs.astuple(row))
        count += 1
    return count
