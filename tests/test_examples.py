"""The examples run: the embedding script, and the channel plugin found through its entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from propcare import Actor, ConfigError, OutboundMessage, Propcare, Recipient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PARAMS = {
    "estate": "翠苑小区",
    "title": "停水通知",
    "name": "张三",
    "body": "明日9:00至12:00停水，请提前储水。",
}


def _plugin_installed() -> bool:
    return any(ep.name == "example_channel" for ep in entry_points(group="propcare"))


# --- examples/embed_minimal.py ------------------------------------------------------


def _run_embed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "embed_minimal.py"), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def test_embed_minimal_builds_an_estate_in_the_given_file(tmp_path: Path) -> None:
    db = tmp_path / "estate.db"
    done = _run_embed(str(db))
    assert done.returncode == 0, done.stderr
    assert db.exists()
    out = done.stdout
    assert "翠苑小区" in out and "4 units" in out
    assert "张三 138****1234" in out  # the owner's phone, masked
    assert "13812341234" not in out
    assert out.count("(no owner)") == 3


def test_embed_minimal_finds_its_estate_on_a_second_run(tmp_path: Path) -> None:
    db = tmp_path / "estate.db"
    assert _run_embed(str(db)).returncode == 0
    again = _run_embed(str(db))
    assert again.returncode == 0, again.stderr
    assert "already in" in again.stdout and "4 units" in again.stdout


def test_embed_minimal_defaults_to_a_temporary_folder() -> None:
    done = _run_embed()
    assert done.returncode == 0, done.stderr
    assert "4 units" in done.stdout


# --- examples/plugin_channel ------------------------------------------------------------


@pytest.fixture
def jsonl_app(tmp_path: Path) -> Iterator[tuple[Propcare, Path]]:
    out = tmp_path / "out.jsonl"
    config: dict[str, Any] = {"channels": {"log": {}, "jsonl": {"path": str(out)}}}
    with Propcare.open("sqlite://:memory:", config=config) as app:
        yield app, out


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_the_example_plugin_is_found_through_its_entry_point() -> None:
    assert _plugin_installed(), "install it first: pip install -e examples/plugin_channel"
    with Propcare.open("sqlite://:memory:") as app:
        assert "example_channel" in app.host.plugin_names()
        assert "jsonl" in app.host.names(app.host.notification_channels())
        assert not [f for f in app.host.load_errors if f.name == "example_channel"]
        offered_by = {
            p.plugin for p in app.host.notification_channels() if p.record.name == "jsonl"
        }
        assert offered_by == {"example_channel"}


def test_entry_points_off_means_no_example_plugin() -> None:
    with Propcare.open("sqlite://:memory:", load_entrypoints=False) as app:
        assert "example_channel" not in app.host.plugin_names()
        assert "jsonl" not in app.host.names(app.host.notification_channels())


def test_a_notification_is_written_as_one_masked_json_line(
    jsonl_app: tuple[Propcare, Path],
) -> None:
    app, out = jsonl_app
    admin = Actor.system()
    estate = app.estates.create(admin, "翠苑小区")
    message_id = app.notify.send(
        admin, estate.id, "jsonl", Recipient("张三", "13812341234"), "notice", PARAMS
    )
    app.dispatch_idle()
    (line,) = _lines(out)
    assert line["recipient"] == {"name": "张三", "address": "138****1234"}
    assert "13812341234" not in out.read_text(encoding="utf-8")
    assert line["channel"] == "jsonl"
    assert line["subject"] == "【翠苑小区】停水通知"
    assert line["body"] == "尊敬的张三：明日9:00至12:00停水，请提前储水。"
    assert line["locale"] == "zh-CN"
    assert line["idempotency_key"].endswith("/channel:jsonl")
    assert datetime.fromisoformat(line["created_at"]).tzinfo is not None
    with app.unit_of_work(readonly=True) as uow:
        (delivery,) = uow.outbox.deliveries(message_id)
    assert (delivery.target, delivery.status) == ("channel:jsonl", "delivered")


def test_sending_the_same_key_twice_writes_once(jsonl_app: tuple[Propcare, Path]) -> None:
    app, out = jsonl_app
    admin = Actor.system()
    estate = app.estates.create(admin, "翠苑小区")
    to = Recipient("张三", "13812341234")
    first = app.notify.send(admin, estate.id, "jsonl", to, "notice", PARAMS, key="k1")
    second = app.notify.send(admin, estate.id, "jsonl", to, "notice", PARAMS, key="k1")
    assert first == second
    app.dispatch_idle()
    assert [line["idempotency_key"] for line in _lines(out)] == [
        f"notify:{estate.id}:k1/channel:jsonl"
    ]


def test_the_channel_skips_a_key_already_in_the_file(jsonl_app: tuple[Propcare, Path]) -> None:
    """Receiver-side dedupe: a redelivery after a crash carries the same key."""
    app, out = jsonl_app
    message = OutboundMessage(
        idempotency_key="notify:abc/channel:jsonl",
        channel="jsonl",
        estate_id=None,
        recipient=Recipient("李四", "13900005678"),
        subject="s",
        body="b",
        locale="zh-CN",
        template="notice",
        created_at=datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
    )
    channel = app.channels["jsonl"]
    channel.send(message)
    channel.send(message)
    assert [line["recipient"]["address"] for line in _lines(out)] == ["139****5678"]


def test_the_channel_needs_a_path() -> None:
    with pytest.raises(ConfigError, match=r"channels\.jsonl\.path"):
        Propcare.open("sqlite://:memory:", config={"channels": {"jsonl": {}}})


def test_the_plugin_readme_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (EXAMPLES / "plugin_channel" / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"^```python\n(.*?)^```", readme, re.S | re.M)
    monkeypatch.chdir(tmp_path)
    exec(compile(block, "examples/plugin_channel/README.md", "exec"), {"__name__": "readme"})
    (line,) = _lines(tmp_path / "notices.jsonl")
    assert line["recipient"]["address"] == "138****1234"
    assert line["subject"] == "【翠苑小区】停水通知"
