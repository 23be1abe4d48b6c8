"""The configuration file (propcare.toml): structure, errors that name file and key, SLA
targets without a plugin, per-estate overrides, and the warning about next year."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, FixedClock, Propcare
from propcare.config import load_config
from propcare.errors import ConfigError, PropcareError
from propcare.sla.policy import Target
from propcare.tickets.model import Category, Priority

SH = ZoneInfo("Asia/Shanghai")
ADMIN = Actor.system()
MON = datetime(2026, 11, 2, 9, 0, tzinfo=SH)


def write(tmp_path: Path, text: str, name: str = "propcare.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def open_with(path: Path | dict[str, Any], tmp_path: Path, now: datetime = MON) -> Propcare:
    url = f"sqlite:///{tmp_path / 'estate.db'}"
    return Propcare.open(url, load_entrypoints=False, clock=FixedClock(now), config=path)


# --- the file's structure ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "value", "rule"),
    [
        ("[dispatch]\nmax_attempts = '8'\n", "dispatch.max_attempts", "'8'", "whole number"),
        ("[dispatch]\nmax_atempts = 8\n", "dispatch.max_atempts", "8", "known: auto"),
        ("colour = 'red'\n", "colour", "'red'", "unknown key; known: channels"),
        ("[tickets.alerts]\nwarn_fraction = '80%'\n", "tickets.alerts.warn_fraction", "80%",
         "a number"),
        ("[dispatch]\nauto = 'yes'\n", "dispatch.auto", "yes", "true or false"),
        ("[calendars.office]\nsources = ['cn', 3]\n", "calendars.office.sources.1", "3",
         "text or a table"),
        ("[sla]\nmissing = 'strict'\n", "sla.missing", "strict", "known: missing_holiday_data"),
        ("[tickets]\nnotify_channel = true\n", "tickets.notify_channel", "True", "or false"),
    ],
)  # fmt: skip
def test_a_structural_mistake_names_the_file_the_key_and_the_rule(
    tmp_path: Path, text: str, field: str, value: str, rule: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {field}=")
    assert value in message and rule in message


def test_a_file_that_is_not_toml_or_not_there_is_refused_by_name(tmp_path: Path) -> None:
    broken = write(tmp_path, "[dispatch\nauto = true\n")
    with pytest.raises(ConfigError, match=r"is not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match=r"nowhere.toml.*cannot be read"):
        load_config(tmp_path / "nowhere.toml")


def test_holiday_files_are_found_next_to_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "etc").mkdir()
    write(tmp_path / "etc", 'covers = [2027]\ndays_off = ["2027-01-01"]\n', "holidays-2027.toml")
    path = write(
        tmp_path / "etc",
        """
[calendars.office]
windows = { mon-fri = ["09:00-12:00", "13:30-18:00"] }
sources = ["cn", { file = "holidays-2027.toml" }]

[calendars.24x7]
always = true
""",
    )
    monkeypatch.chdir(tmp_path)  # anywhere but the file's own folder
    with open_with(path, tmp_path) as app:
        office = app.calendars["office"]
        assert office.covers(2027) and office.windows_on(date(2027, 1, 1)) == ()


def test_mistakes_found_while_opening_name_the_file_and_write_nothing(tmp_path: Path) -> None:
    cases = {
        "[calendars.office]\nwindows = { mon = ['18:00-09:00'] }\nsources = ['cn']\n": (
            "calendars.office.windows.mon"
        ),
        "[sla.policies.repair]\ncategory = 'home_repair'\nresolution = { budget = '2 days' }\n": (
            "sla.policies.repair.resolution.budget"
        ),
        "[sla.policies.x]\ncategory = 'home_repair'\n"
        "arrival = { budget = '2h', calendar = 'night' }\n": "calendars",
        "[dunning]\nquiet_hours = '21:00'\n": "dunning.quiet_hours",
        "[commission]\nattribution = 'luck'\n": "commission.attribution",
        "[sla]\nmissing_holiday_data = 'guess'\n": "sla.missing_holiday_data",
        "[channels.pigeon]\n": "channel",
    }
    for text, field in cases.items():
        path = write(tmp_path, text)
        with pytest.raises(PropcareError) as caught:
            open_with(path, tmp_path)
        assert str(caught.value).startswith(f"{path}: {field}"), str(caught.value)
    assert not (tmp_path / "estate.db").exists() or _no_estates(tmp_path)


def _no_estates(tmp_path: Path) -> bool:
    with open_with({}, tmp_path) as app:
        return app.estates.list(ADMIN) == []


def test_notify_channel_false_turns_staff_notifications_off(tmp_path: Path) -> None:
    path = write(tmp_path, "[tickets]\nnotify_channel = false\n")
    with open_with(path, tmp_path) as app:
        assert app.ticket_channel is None


# --- SLA targets without a plugin ------------------------------------------------------------

SLA = """
[sla.policies.repair]
category = "home_repair"
resolution = { budget = "8h", calendar = "office" }

[sla.policies.quick_complaints]
category = "complaint"
priority = "urgent"
response = { budget = "5m", calendar = "24x7" }
resolution = { budget = "4h", calendar = "office" }

[sla.estates.2.policies.repair]
category = "home_repair"
resolution = { budget = "4h", calendar = "office" }
arrival = false
"""


def test_targets_come_from_the_file_with_per_estate_overrides(tmp_path: Path) -> None:
    with open_with(write(tmp_path, SLA), tmp_path) as app:
        first = app.estates.create(ADMIN, "翠苑")
        second = app.estates.create(ADMIN, "兰亭")
        assert second.id == 2
        tickets = []
        for estate in (first, second):
            building = app.estates.add_building(ADMIN, estate.id, "1栋")
            unit = app.estates.add_unit(ADMIN, building.id, "101", Decimal("80"))
            clerk = app.staff.create(ADMIN, estate.id, "王", ["front_desk"], date(2024, 1, 1))
            actor = app.staff.actor_for(ADMIN, clerk.id, MON.date())
            tickets.append(
                app.tickets.open(
                    actor, estate.id, category="home_repair", channel="phone",
                    summary="漏水", unit_id=unit.id, at=MON,
                )
            )  # fmt: skip
        company, override = tickets
        # The company's repair: 8 office hours; what it did not name is inherited from
        # the built-in repair policy (15-minute response, 2-hour arrival).
        assert company.deadlines.resolution == datetime(2026, 11, 3, 9, 30, tzinfo=SH)
        assert company.deadlines.response == MON + timedelta(minutes=15)
        assert company.deadlines.arrival == MON + timedelta(hours=2)
        # Estate 2: 4 office hours, no arrival target; the response still inherited.
        assert override.deadlines.resolution == datetime(2026, 11, 2, 14, 30, tzinfo=SH)
        assert override.deadlines.arrival is None
        assert override.deadlines.response == MON + timedelta(minutes=15)
        policy = app.sla_policy_set(first.id).find(Category.COMPLAINT, Priority.URGENT)
        assert policy.name == "quick_complaints"
        assert policy.rule(Target.RESPONSE).budget == timedelta(minutes=5)  # type: ignore[union-attr]


def test_a_mapping_takes_the_same_sla_section(tmp_path: Path) -> None:
    config = {"sla": {"policies": {"repair": {"category": "home_repair",
                                              "resolution": {"budget": "1h30m"}}}}}  # fmt: skip
    with open_with(config, tmp_path) as app:
        repair = app.sla_policies.describe()["repair"]
        assert repair.resolution is not None
        assert repair.resolution.budget == timedelta(minutes=90)
        assert repair.resolution.calendar == "office"


# --- next year's holidays --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "warned"),
    [
        (datetime(2026, 10, 31, 18, 0, tzinfo=SH), False),
        (datetime(2026, 11, 1, 9, 0, tzinfo=SH), True),
        (datetime(2026, 12, 31, 23, 0, tzinfo=SH), True),
    ],
)
def test_opening_warns_from_november_when_next_years_holidays_are_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, now: datetime, warned: bool
) -> None:
    with caplog.at_level(logging.WARNING, "propcare.app"), open_with({}, tmp_path, now):
        pass
    said = [r.getMessage() for r in caplog.records if "no holiday data for 2027" in r.getMessage()]
    assert bool(said) == warned
    if warned:
        assert "'office'" in said[0] and "provisional" in said[0]


# --- a mapping in code gets the same checks ----------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"calender": {}}, "calender={}: unknown key; known: channels"),
        ({"dispatch": {"max_attempts": "8"}}, "dispatch.max_attempts='8': must be a whole number"),
        ({"tickets": {"notify_chanel": "log"}}, "tickets.notify_chanel='log': unknown key"),
    ],
)
def test_a_mapping_is_refused_where_the_file_would_be(
    tmp_path: Path, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        open_with(config, tmp_path)
    assert str(caught.value).startswith(message)


def test_a_mapping_may_hold_read_only_mappings_tuples_and_false(tmp_path: Path) -> None:
    from propcare.calendar import DEFAULT_CALENDARS

    config = {"calendars": DEFAULT_CALENDARS, "channels": {"log": None},
              "tickets": {"notify_channel": False}}  # fmt: skip
    with open_with(config, tmp_path) as app:
        assert set(app.calendars) == {"office", "24x7"} and app.ticket_channel is None
