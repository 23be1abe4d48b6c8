"""Turning frozen domain values into JSON text and back, for any backend.

Datetimes as ISO text with their offset, dates as ISO, Decimals as strings
(never floats), enums by value.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import cattrs

__all__ = ["converter", "dumps", "loads"]

T = TypeVar("T")

converter = cattrs.Converter()
converter.register_unstructure_hook(datetime, lambda d: d.isoformat())
converter.register_structure_hook(datetime, lambda v, _: datetime.fromisoformat(v))
converter.register_unstructure_hook(date, lambda d: d.isoformat())
converter.register_structure_hook(date, lambda v, _: date.fromisoformat(v))
converter.register_unstructure_hook(Decimal, str)
converter.register_structure_hook(Decimal, lambda v, _: Decimal(v))


def dumps(value: Any) -> str:
    return json.dumps(converter.unstructure(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str, cls: type[T]) -> T:
    return converter.structure(json.loads(text), cls)
