"""The storage contract suite, run against both SQLite URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from propcare.testing.contract import StorageContract


class TestSqliteFile(StorageContract):
    persistent = True

    @pytest.fixture
    def storage_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path / 'contract.db'}"


class TestSqliteMemory(StorageContract):
    persistent = False

    @pytest.fixture
    def storage_url(self) -> str:
        return "sqlite://:memory:"
