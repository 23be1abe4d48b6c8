"""How the SQLite backend writes values it cannot store natively.

Kept apart from ``sqlite.py`` so every repository module imports it directly
(``sqlite.py`` imports the repositories).
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_ts", "ts"]


def ts(value: datetime) -> str:
    """Aware datetime -> fixed-width UTC text, which sorts in time order."""
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(text: str) -> datetime:
    return datetime.fromisoformat(text)
