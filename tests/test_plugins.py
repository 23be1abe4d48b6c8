"""The plugin host: named records, fault-tolerant entry points, one manager per app."""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from propcare import Actor, ConfigError, PermissionDenied, Propcare, Resource, hookimpl
from propcare.plugins.host import DEFAULT_PLUGINS, PluginHost
from propcare.plugins.records import NotificationChannel, StorageBackend
from propcare.storage.sqlite import open_sqlite
from propcare.testing import RecordingChannel


class SecondSqlite:
    @hookimpl
    def propcare_storage_backends(self) -> list[StorageBackend]:
        return [StorageBackend(name="sqlite", open=open_sqlite)]


class AnotherLog:
    @hookimpl
    def propcare_notification_channels(self) -> list[NotificationChannel]:
        return [NotificationChannel(name="log", create=lambda s: RecordingChannel())]


def test_builtins_register_through_the_same_hooks() -> None:
    host = PluginHost(load_entrypoints=False)
    assert host.plugin_names() == sorted(f"builtin:{p}" for p in DEFAULT_PLUGINS)
    assert [p.record.name for p in host.storage_backends()] == ["sqlite"]
    assert [p.record.name for p in host.notification_channels()] == ["log"]
    assert [p.record.name for p in host.payment_gateways()] == ["counter"]
    assert [p.record.name for p in host.calendars()] == ["cn", "file"]


def test_an_unknown_backend_names_what_is_available() -> None:
    with pytest.raises(ConfigError) as info:
        Propcare.open("mysql://localhost/x", load_entrypoints=False)
    message = str(info.value)
    assert "storage backend='mysql'" in message
    assert "sqlite (from builtin:propcare.storage.sqlite)" in message


def test_a_duplicate_backend_name_names_both_plugins() -> None:
    with pytest.raises(ConfigError) as info:
        Propcare.open("sqlite://:memory:", plugins=[SecondSqlite()], load_entrypoints=False)
    message = str(info.value)
    assert "more than one plugin" in message
    assert "builtin:propcare.storage.sqlite" in message and "SecondSqlite" in message


def test_duplicate_and_unknown_channels_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="more than one plugin"):
        Propcare.open("sqlite://:memory:", plugins=[AnotherLog()], load_entrypoints=False)
    with pytest.raises(ConfigError, match="channel='email'.*log"):
        Propcare.open(
            "sqlite://:memory:", load_entrypoints=False, config={"channels": {"email": {}}}
        )
    # A duplicate that is not chosen does no harm.
    with Propcare.open(
        "sqlite://:memory:",
        plugins=[AnotherLog(), RecordingChannel("sms")],
        load_entrypoints=False,
        config={"channels": {"sms": {}}},
    ) as app:
        assert list(app.channels) == ["sms"]


def test_two_apps_in_one_process_have_their_own_plugins() -> None:
    chan = RecordingChannel("only_here")
    with (
        Propcare.open("sqlite://:memory:", plugins=[chan], load_entrypoints=False) as one,
        Propcare.open("sqlite://:memory:", load_entrypoints=False) as two,
    ):
        assert one.host.pm is not two.host.pm
        assert "only_here" in [p.record.name for p in one.host.notification_channels()]
        assert "only_here" not in [p.record.name for p in two.host.notification_channels()]


def test_no_module_creates_a_plugin_manager_but_the_host() -> None:
    src = Path(__file__).parents[1] / "src" / "propcare"
    creators = [
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if "PluginManager(" in p.read_text(encoding="utf-8")
    ]
    assert creators == ["plugins/host.py"]
    markers = [
        p.relative_to(src).as_posix()
        for p in src.rglob("*.py")
        if "HookspecMarker(" in p.read_text(encoding="utf-8")
    ]
    assert markers == ["plugins/hookspecs.py"]


class DenyOwnerReadsAtNight:
    """A host system's own policy, asked before the built-in role map."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    @hookimpl
    def propcare_authorize(self, actor: Actor, action: str, resource: Resource) -> bool | None:
        self.asked.append((action, resource.kind))
        if action == "owner.read":
            return False
        return None  # let the role map decide the rest


def test_an_authorize_plugin_answers_before_the_role_map(admin: Actor) -> None:
    policy = DenyOwnerReadsAtNight()
    with Propcare.open("sqlite://:memory:", plugins=[policy], load_entrypoints=False) as app:
        estate = app.estates.create(admin, "翠苑")
        owner = app.owners.create(admin, estate.id, "张三")
        with pytest.raises(PermissionDenied, match="action='owner.read'"):
            app.owners.get(admin, owner.id)
        assert app.estates.get(admin, estate.id) == estate  # None -> role map (admin: allowed)
    assert ("owner.read", "owner") in policy.asked


def test_a_plugin_cannot_lift_estate_isolation(admin: Actor) -> None:
    class AllowEverything:
        @hookimpl
        def propcare_authorize(self, actor: Actor, action: str, resource: Resource) -> bool:
            return True

    with Propcare.open(
        "sqlite://:memory:", plugins=[AllowEverything()], load_entrypoints=False
    ) as app:
        a = app.estates.create(admin, "A")
        b = app.estates.create(admin, "B")
        with pytest.raises(Exception, match="no estate with this id"):
            app.estates.get(Actor("B员工", {"front_desk"}, {b.id}), a.id)
        app.staff.create(admin, b.id, "B员工", ["front_desk"], date(2024, 1, 1))


def _fake_distribution(root: Path, name: str, entry_points: dict[str, str]) -> None:
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[propcare]\n{lines}\n")


def test_a_broken_entry_point_is_reported_by_name_and_the_rest_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pc_broken_plugin.py").write_text("raise ImportError('missing dependency foo')\n")
    (tmp_path / "pc_bad_hook_plugin.py").write_text(
        textwrap.dedent(
            """
            from propcare import hookimpl

            @hookimpl
            def propcare_authorize(who):  # wrong argument name: pluggy refuses it
                return True
            """
        )
    )
    (tmp_path / "pc_good_plugin.py").write_text(
        textwrap.dedent(
            """
            from propcare import hookimpl
            from propcare.testing import RecordingChannel

            CHANNEL = RecordingChannel("good_channel")

            @hookimpl
            def propcare_notification_channels():
                return CHANNEL.propcare_notification_channels()
            """
        )
    )
    _fake_distribution(
        tmp_path,
        "pc-test-plugins",
        {
            "broken": "pc_broken_plugin",
            "bad_hook": "pc_bad_hook_plugin",
            "good": "pc_good_plugin",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with Propcare.open("sqlite://:memory:", config={"channels": {"good_channel": {}}}) as app:
        failures: dict[str, Any] = {f.name: f for f in app.host.load_errors}
        assert set(failures) >= {"broken", "bad_hook"}
        assert "missing dependency foo" in failures["broken"].error
        assert failures["broken"].distribution == "pc-test-plugins"
        assert "good" in app.host.plugin_names()
        assert "broken" not in app.host.plugin_names()
        assert list(app.channels) == ["good_channel"]


def test_entry_points_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pc_other_plugin.py").write_text("raise ImportError('never imported')\n")
    _fake_distribution(tmp_path, "pc-other", {"other": "pc_other_plugin"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with Propcare.open("sqlite://:memory:", load_entrypoints=False) as app:
        assert app.host.load_errors == []
        assert "other" not in app.host.plugin_names()


def test_a_provider_hook_that_raises_is_reported_and_the_rest_still_work() -> None:
    class Exploding:
        @hookimpl
        def propcare_notification_channels(self) -> list[NotificationChannel]:
            raise RuntimeError("bad settings file")

    with Propcare.open("sqlite://:memory:", plugins=[Exploding()], load_entrypoints=False) as app:
        assert list(app.channels) == ["log"]
        (failure,) = app.host.load_errors
        assert failure.name.endswith("Exploding") and "bad settings file" in failure.error


def test_a_misspelt_hook_is_refused_by_name() -> None:
    class Misspelt:
        @hookimpl
        def propcare_notification_channel(self) -> list[NotificationChannel]:
            return []

    with pytest.raises(ConfigError, match="propcare_notification_channel"):
        Propcare.open("sqlite://:memory:", plugins=[Misspelt()], load_entrypoints=False)


def test_entry_points_to_classes_are_instantiated_and_duplicates_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pc_class_plugin.py").write_text(
        textwrap.dedent(
            """
            from propcare import hookimpl
            from propcare.plugins.records import NotificationChannel
            from propcare.testing import RecordingChannel

            class Plugin:
                @hookimpl
                def propcare_notification_channels(self):
                    return [NotificationChannel(name="cls", create=lambda s: RecordingChannel())]
            """
        )
    )
    (tmp_path / "pc_typo_plugin.py").write_text(
        "from propcare import hookimpl\n\n@hookimpl\ndef propcare_calendar():\n    return []\n"
    )
    _fake_distribution(tmp_path, "pc-class", {"classy": "pc_class_plugin:Plugin"})
    _fake_distribution(
        tmp_path / "second",
        "pc-class-again",
        {"classy": "pc_class_plugin:Plugin", "typo": "pc_typo_plugin"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(tmp_path / "second"))
    with Propcare.open("sqlite://:memory:", config={"channels": {"cls": {}}}) as app:
        assert list(app.channels) == ["cls"]
        errors = {(f.name, f.distribution): f.error for f in app.host.load_errors}
        assert any(
            name == "classy" and "another plugin has this name" in err
            for (name, _), err in errors.items()
        )
        assert any(
            name == "typo" and "propcare_calendar" in err for (name, _), err in errors.items()
        )
        assert "typo" not in app.host.plugin_names()
