"""Schema migrations: numbered SQL files per dialect and a version table.

A database made by an older release opens and upgrades: each pending file runs
in its own transaction together with the row that records it, so a failure
leaves the database at the last good version. A database newer than this
release is refused rather than guessed at.
"""

from __future__ import annotations

import re
import sqlite3
from importlib import resources

import attrs

__all__ = ["Migration", "migrations", "split_statements"]

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@attrs.frozen
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str, package: str = "propcare.storage.migrations") -> list[Migration]:
    """The migrations of ``dialect`` in version order (reads package files: call at open)."""
    folder = resources.files(package).joinpath(dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations of {dialect} are not numbered 1..n: {versions}")
    return found


def split_statements(sql: str) -> list[str]:
    """Split an SQLite script into statements where SQLite itself says one is complete,
    so a trigger's ``BEGIN ...; END;`` body stays whole."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines():
        if not buffer and (not line.strip() or line.strip().startswith("--")):
            continue
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip().rstrip(";").strip())
            buffer = ""
    if buffer.strip():
        raise ValueError(f"migration ends inside a statement: {buffer.strip()[:60]!r}")
    return statements
