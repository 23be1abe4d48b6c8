"""attrs validators that raise :class:`~propcare.errors.ValidationError`.

They name the field as the user knows it, so the message of a bad value reads
``floor_area=Decimal('-3'): must be a positive Decimal (square metres)``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar

from propcare.clock import require_aware
from propcare.errors import MoneyTypeError, ValidationError

__all__ = [
    "aware",
    "enum_member",
    "non_empty",
    "optional_aware",
    "positive_decimal",
    "positive_int",
    "valid_date",
]

Validator = Callable[[Any, Any, Any], None]
E = TypeVar("E", bound=enum.Enum)


def enum_member(cls: type[E], field: str, value: Any) -> E:
    """``cls(value)``, or ValidationError listing the allowed values."""
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in cls)
        raise ValidationError(field, value, f"must be one of: {allowed}") from None


def non_empty(field: str, max_length: int = 200) -> Validator:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(field, value, "must be a non-empty text")
        if len(value) > max_length:
            raise ValidationError(field, value, f"must be at most {max_length} characters")

    return check


def positive_decimal(field: str, unit: str = "") -> Validator:
    what = f"must be a positive Decimal{f' ({unit})' if unit else ''}"

    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if isinstance(value, float):
            raise MoneyTypeError(field, value, f"{what}, never a float")
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise ValidationError(field, value, what)

    return check


def positive_int(field: str) -> Validator:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(field, value, "must be a positive integer")

    return check


def aware(field: str) -> Validator:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        require_aware(field, value)

    return check


def optional_aware(field: str) -> Validator:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is not None:
            require_aware(field, value)

    return check


def valid_date(field: str, optional: bool = False) -> Validator:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if value is None and optional:
            return
        # datetime is a date subclass; a date field given a datetime is a mistake.
        if not isinstance(value, date) or type(value).__name__ == "datetime":
            raise ValidationError(field, value, "must be a date (datetime.date)")

    return check
