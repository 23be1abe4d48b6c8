"""The input limits of propcare, in one place: what every public method checks at its
boundary, before it reads or writes anything (docs/explanation/security.md, "Input limits").

Two forms: checks that return the value they accept (``record_id("unit_id", x)``), for the
services, and attrs validators (``non_empty("estate name")``) for the values of the model.
Both raise :class:`~propcare.errors.ValidationError` naming the field as the user knows
it, so the message of a bad value reads
``floor_area=Decimal('-3'): must be a positive Decimal (square metres)``. A value of the
wrong Python type is a ValidationError too (a ``PropcareError``), except a float where
money is expected: :class:`~propcare.errors.MoneyTypeError`, also a ``TypeError``.

The limits (money is in :mod:`propcare.money`, instants in :mod:`propcare.clock`):

- a record id is an ``int`` (not ``bool``) from 1 to 2**63 - 1 (``MAX_ID``), what both
  backends' 64-bit keys hold;
- text is ``str`` without NUL characters (PostgreSQL refuses them; SQLite would store
  them and a copy to PostgreSQL would then fail), at most ``NAME_MAX`` (200) characters
  for names, codes and short labels, ``SUMMARY_MAX`` (500) for titles and summaries,
  ``NOTE_MAX`` (2,000) for notes, reasons and comments, ``KEY_MAX`` (200) for
  idempotency keys and slip or refund numbers;
- a date is a ``datetime.date`` (not a ``datetime``) from 1900-01-01 to 2099-12-31
  (``FIRST_DAY``, ``LAST_DAY``), so a year or two added to it never overflows;
- a flag is ``True`` or ``False`` (a truthy ``"no"`` is not a flag);
- a mapping of parameters (a template's, a commission plan's) has text keys and values
  JSON can write (text, finite numbers, Decimal, bool, None, lists and mappings of
  those), at most ``PARAMS_MAX`` (10,000) characters written as JSON.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from propcare.clock import require_aware
from propcare.errors import MoneyTypeError, ValidationError

__all__ = [
    "FIRST_DAY",
    "KEY_MAX",
    "LAST_DAY",
    "MAX_ID",
    "NAME_MAX",
    "NOTE_MAX",
    "PARAMS_MAX",
    "SUMMARY_MAX",
    "aware",
    "bounded_int",
    "choice",
    "day",
    "enum_member",
    "flag",
    "non_empty",
    "optional_aware",
    "optional_day",
    "optional_record_id",
    "optional_text",
    "params",
    "positive_decimal",
    "positive_int",
    "record_id",
    "text",
    "valid_date",
]

Validator = Callable[[Any, Any, Any], None]
E = TypeVar("E", bound=enum.Enum)

MAX_ID = 2**63 - 1
NAME_MAX = 200
SUMMARY_MAX = 500
NOTE_MAX = 2_000
KEY_MAX = 200
PARAMS_MAX = 10_000
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2099, 12, 31)

# --- ids ------------------------------------------------------------------------------


def record_id(field: str, value: Any) -> int:
    """``value`` if it is a record id: an int (not bool) from 1 to 2**63 - 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, value, "must be an integer id")
    if not 1 <= value <= MAX_ID:
        raise ValidationError(field, value, "must be an id from 1 to 2**63 - 1")
    return value


def optional_record_id(field: str, value: Any) -> int | None:
    return None if value is None else record_id(field, value)


# --- text -----------------------------------------------------------------------------


def text(field: str, value: Any, *, max_length: int = NAME_MAX, required: bool = True) -> str:
    """``value`` if it is text without NUL, at most ``max_length`` characters and, when
    ``required``, not blank. Returned as given (not stripped)."""
    if not isinstance(value, str):
        raise ValidationError(field, value, "must be text (str)")
    if "\x00" in value:
        raise ValidationError(field, value, "must not contain NUL characters")
    if len(value) > max_length:
        raise ValidationError(field, value, f"must be at most {max_length:,} characters")
    if required and not value.strip():
        raise ValidationError(field, value, "must be a non-empty text")
    return value


def optional_text(
    field: str, value: Any, *, max_length: int = NAME_MAX, required: bool = False
) -> str | None:
    """None, or :func:`text` (which may be empty unless ``required``)."""
    return None if value is None else text(field, value, max_length=max_length, required=required)


def choice(field: str, value: Any, allowed: Collection[str]) -> str:
    """``value`` if it is one of the ``allowed`` texts."""
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(field, value, f"must be one of: {', '.join(sorted(allowed))}")
    return value


def enum_member(cls: type[E], field: str, value: Any) -> E:
    """``cls(value)``, or ValidationError listing the allowed values."""
    try:
        return cls(value)
    except (ValueError, TypeError):
        allowed = ", ".join(str(m.value) for m in cls)
        raise ValidationError(field, value, f"must be one of: {allowed}") from None


def non_empty(field: str, max_length: int = NAME_MAX) -> Validator:
    def check(_inst: Any, _attr: Any, value: Any) -> None:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError(field, value, "must be a non-empty text")
        text(field, value, max_length=max_length)

    return check


# --- other scalars --------------------------------------------------------------------


def flag(field: str, value: Any) -> bool:
    """``value`` if it is True or False."""
    if not isinstance(value, bool):
        raise ValidationError(field, value, "must be True or False")
    return value


def bounded_int(field: str, value: Any, low: int, high: int, what: str = "") -> int:
    """``value`` if it is an int (not bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            field, value, f"must be a whole number from {low:,} to {high:,}{what}"
        )
    return value


def day(field: str, value: Any) -> date:
    """``value`` if it is a date (not a datetime) from 1900-01-01 to 2099-12-31."""
    # datetime is a date subclass; a date field given a datetime is a mistake.
    if not isinstance(value, date) or isinstance(value, datetime):
        raise ValidationError(field, value, "must be a date (datetime.date)")
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValidationError(
            field, value, f"must be from {FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}"
        )
    return value


def optional_day(field: str, value: Any) -> date | None:
    return None if value is None else day(field, value)


def params(field: str, value: Any, *, max_chars: int = PARAMS_MAX) -> dict[str, Any]:
    """A mapping of text keys to JSON-able values (see the module notes), as a dict."""
    if type(value) is not dict and not isinstance(value, Mapping):
        raise ValidationError(field, value, "must be a mapping of names to values")
    # The walk counts characters as JSON writes them, escapes aside: a mapping well within
    # the limit is not written out just to be measured (every ticket event passes here).
    if _json_value(field, value, 0) * _WORST_ESCAPE > max_chars:
        size = len(json.dumps(value, default=str, ensure_ascii=False))
        if size > max_chars:
            raise ValidationError(field, value, f"must be at most {max_chars:,} characters as JSON")
    return dict(value)


# A character JSON escapes becomes at most six (\u0000).
_WORST_ESCAPE = 6


def _json_value(field: str, value: Any, depth: int) -> int:
    """Check one value; return about how many characters JSON writes for it (at least)."""
    if depth > 10:
        raise ValidationError(field, "...", "nests more than 10 levels")
    if type(value) is dict:  # the common case first: ABC checks cost a microsecond each
        return _json_mapping(field, value, depth)
    if value is None or isinstance(value, bool | int):
        return len(str(value))
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationError(field, value, "must not contain NUL characters")
        return len(value) + 2
    if isinstance(value, float | Decimal):
        if not (math.isfinite(value) if isinstance(value, float) else value.is_finite()):
            raise ValidationError(field, value, "numbers must be finite")
        return len(str(value)) + 2
    if isinstance(value, Mapping):
        return _json_mapping(field, value, depth)
    if isinstance(value, list | tuple):
        size = 2
        for i, item in enumerate(value):
            size += 2 + _json_value(f"{field}[{i}]", item, depth + 1)
        return size
    raise ValidationError(
        field, value, f"must hold text, numbers, True/False/None, lists or mappings, "
        f"not {type(value).__name__}"
    )  # fmt: skip


def _json_mapping(field: str, value: Mapping[Any, Any], depth: int) -> int:
    size = 2
    for key, item in value.items():
        if not isinstance(key, str) or "\x00" in key or len(key) > NAME_MAX:
            raise ValidationError(
                field, key, f"keys must be text of at most {NAME_MAX} characters, no NUL"
            )
        size += len(key) + 4
        # Plain text and whole numbers, nearly every value, without a call or a path.
        kind = type(item)
        if kind is str and "\x00" not in item:
            size += len(item) + 2
        elif kind is int or item is None or kind is bool:
            size += 8
        else:
            size += _json_value(f"{field}.{key}", item, depth + 1)
    return size


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
        day(field, value)

    return check
