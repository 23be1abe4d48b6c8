"""The owner archive (业主档案): one row per unit with its current owner, for export.

Phones and ID numbers are masked unless the caller asks for them in full *and*
the actor's role allows ``owner.reveal_contact``; asking without the right is
refused rather than quietly masked, so an export never claims to be complete
when it is not. Every field is text, written by :mod:`propcare.tabular`: an owner's
name that a spreadsheet would run as a formula (``=HYPERLINK(...)``) gets a leading ``'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

import attrs

from propcare.tabular import write_csv

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
    header = ARCHIVE_HEADERS.get(locale, ARCHIVE_HEADERS["zh-CN"])
    return write_csv(out, header, (attrs.astuple(row) for row in rows))
