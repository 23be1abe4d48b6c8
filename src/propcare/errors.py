"""The errors a caller of propcare can cause.

Every error names the field, the value and the rule it broke, so a front-desk
clerk or an integrator can fix the input without reading the source. Nothing is
written when one is raised inside a unit of work: the transaction rolls back.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CalendarDataMissing",
    "ConfigError",
    "Conflict",
    "CopyMismatch",
    "DatabaseLocked",
    "ForeignDatabase",
    "InvalidTransition",
    "MoneyTypeError",
    "NotFound",
    "NoticeError",
    "PermissionDenied",
    "PluginLoadError",
    "PropcareError",
    "ReadOnlyDatabase",
    "SchemaVersionError",
    "StorageError",
    "ValidationError",
    "shown",
]


# How much of a value a message quotes: a 100,000-character name is refused with its
# first characters and its length, not echoed whole into logs and terminals.
SHOWN_CHARS = 200
SHOWN_REPR = 300


def shown(value: Any) -> str:
    """``repr(value)`` for a message, at most about ``SHOWN_REPR`` characters: long text
    and bytes by a prefix of ``SHOWN_CHARS`` and their length, anything else cut short."""
    if isinstance(value, str | bytes) and len(value) > SHOWN_CHARS:
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:SHOWN_CHARS]!r}... ({len(value):,} {unit})"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the error itself
        text = f"<{type(value).__name__}>"
    if len(text) > SHOWN_REPR:
        text = f"{text[:SHOWN_REPR]}... ({len(text):,} characters)"
    return text


class PropcareError(Exception):
    """Base of every error propcare raises on purpose.

    ``field``, ``value`` and ``rule`` are kept as attributes for programs; the
    message reads ``field=value: rule`` for people, the value as :func:`shown` quotes it
    (a long one by its beginning and its length).
    """

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={shown(value)}: {rule}")


class ValidationError(PropcareError, ValueError):
    """An input broke a rule (empty name, negative area, naive datetime, ...)."""


class MoneyTypeError(ValidationError, TypeError):
    """A money amount had the wrong type; a float is never money."""


class NoticeError(ValidationError):
    """A State Council holiday notice could not be read with certainty.

    ``field`` names the line (``notice line 4``), ``value`` is the text that
    could not be read and ``rule`` says what was expected. Nothing is guessed:
    fix the text (or the typo it reproduces) and read it again.
    """


class NotFound(PropcareError, LookupError):
    """No record with that key exists where the actor may look."""


class Conflict(PropcareError):
    """The change clashes with what is stored (a duplicate unit number, ...)."""


class InvalidTransition(PropcareError):
    """A state change the transition table does not allow."""


class PermissionDenied(PropcareError):
    """The actor's roles do not allow the action."""


class ConfigError(PropcareError):
    """The configuration names something no plugin provides, or two provide it."""


class PluginLoadError(PropcareError):
    """An entry-point plugin failed to import or register."""


class StorageError(PropcareError):
    """The storage backend could not do what was asked (locked, unreachable, ...)."""


class CalendarDataMissing(PropcareError):
    """No calendar source has holiday data for the year asked about; never guessed."""


class SchemaVersionError(StorageError):
    """The database was made by a newer propcare than this one."""


class DatabaseLocked(StorageError):
    """Another writer held the database's write lock longer than propcare waits for it
    (30 s): nothing was written. Try again once that writer (a bill run, an import, another
    process) has finished."""


class ForeignDatabase(StorageError):
    """The database holds another program's tables and no propcare schema: propcare does
    not add its tables there unless asked (``Propcare.open(url, adopt_foreign=True)``)."""


class ReadOnlyDatabase(StorageError):
    """The database could be opened only for reading (its file or folder is read-only) and
    something tried to write, or it needs an upgrade that would have to write."""


class CopyMismatch(StorageError):
    """A database copy (``propcare migrate-db``) does not match its source: a row count, a
    balance or a receipt counter differs. The copy was rolled back; nothing was written."""
