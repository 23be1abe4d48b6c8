"""Planned outage notices: the affected owners hear through the outbox, late notices are counted.

Also runs the python blocks of the tickets & SLA guide (docs/guides/tickets-sla.md).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propcare import Actor, ConfigError, FixedClock, NotFound, PermissionDenied, Propcare
from propcare.errors import ValidationError
from propcare.testing import RecordingChannel, RecordingSubscriber

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=SH)  # a Monday
CUT = datetime(2026, 11, 5, 9, 0, tzinfo=SH)  # Thursday morning
CUT_END = CUT + timedelta(hours=6)
NOVEMBER = (datetime(2026, 11, 1, tzinfo=SH), datetime(2026, 12, 1, tzinfo=SH))
ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guides" / "tickets-sla.md"


def _open(clock: FixedClock, *plugins: object, **config: Any) -> Propcare:
    return Propcare.open(
        "sqlite://:memory:",
        plugins=list(plugins),
        load_entrypoints=False,
        clock=clock,
        config={
            "channels": {
                "log": {},
                **{p.name: {} for p in plugins if isinstance(p, RecordingChannel)},
            },
            **config,
        },
    )


@pytest.fixture
def w() -> Iterator[Any]:
    """An estate of two buildings: 1栋 with 张 (two flats), 李 (no phone), an empty flat and a
    flat sold to 赵 on the 4th; 2栋 with 王."""
    clock = FixedClock(NOW)
    sms = RecordingChannel("sms")
    sub = RecordingSubscriber("watcher", topics=frozenset({"outage.announced"}))
    app = _open(clock, sms, sub, tickets={"notify_channel": "sms"})
    admin = Actor.system()
    estate = app.estates.create(admin, "翠苑小区")
    b1 = app.estates.add_building(admin, estate.id, "1栋")
    b2 = app.estates.add_building(admin, estate.id, "2栋")
    units = {
        n: app.estates.add_unit(admin, b1.id, n, Decimal("89.5"))
        for n in ("101", "102", "201", "202", "301")
    }
    b2_unit = app.estates.add_unit(admin, b2.id, "101", Decimal("120"))
    zhang = app.owners.create(admin, estate.id, "张三", ["13812345678"])
    li = app.owners.create(admin, estate.id, "李四")
    zhao = app.owners.create(admin, estate.id, "赵六", ["13955556666"])
    seller = app.owners.create(admin, estate.id, "钱七", ["13700001111"])
    wang = app.owners.create(admin, estate.id, "王五", ["13698765432"])
    since = date(2020, 1, 1)
    app.owners.assign(admin, units["101"].id, zhang.id, since)
    app.owners.assign(admin, units["201"].id, zhang.id, since)
    app.owners.assign(admin, units["102"].id, li.id, since)
    app.owners.assign(admin, units["202"].id, seller.id, since)
    app.owners.assign(admin, units["202"].id, zhao.id, date(2026, 11, 4))
    app.owners.assign(admin, b2_unit.id, wang.id, since)
    clerk = app.staff.create(admin, estate.id, "王客服", ["front_desk"], since)
    tech = app.staff.create(admin, estate.id, "李师傅", ["technician"], since)
    w = type("W", (), {})()
    w.app, w.clock, w.sms, w.sub, w.admin, w.estate = app, clock, sms, sub, admin, estate
    w.b1, w.b2, w.units, w.b2_unit = b1, b2, units, b2_unit
    w.clerk = app.staff.actor_for(admin, clerk.id, NOW.date())
    w.tech = app.staff.actor_for(admin, tech.id, NOW.date())
    w.clerk_id = clerk.id
    yield w
    app.close()


def _announce(w: Any, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "kind": "water",
        "title": "二次供水水箱清洗",
        "starts_at": CUT,
        "ends_at": CUT_END,
        "building_ids": [w.b1.id],
    }
    args.update(kw)
    outage = w.app.outages.announce(w.clerk, w.estate.id, **args)
    w.app.dispatch_idle()  # the notices leave after commit, on the dispatch worker
    return outage


def _dump(app: Propcare) -> dict[str, list[tuple[Any, ...]]]:
    with app.unit_of_work(readonly=True) as uow:
        conn = uow.connection  # type: ignore[attr-defined]
        return {
            t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t}")]
            for t in ("outages", "outbox", "deliveries")
        }


# --- who hears of it --------------------------------------------------------------------


def test_notices_go_through_the_outbox_to_the_affected_owners_only(w: Any) -> None:
    outage = _announce(w)
    # 1栋: 张三 once for both flats, 李四 has no phone, 202 is 赵六's on the day of the cut
    # (bought on the 4th, the cut is on the 5th), 301 has no owner. 王五 lives in 2栋.
    assert sorted(m.recipient.name for m in w.sms.sent) == ["张三", "赵六"]
    assert (outage.notices, outage.unreachable) == (2, 1)
    zhang = next(m for m in w.sms.sent if m.recipient.name == "张三")
    assert zhang.subject == "【翠苑小区】停水通知"
    assert "1栋101、1栋201" in zhang.body
    assert "2026-11-05 09:00至2026-11-05 15:00停水" in zhang.body
    assert zhang.idempotency_key == (
        f"notify:{w.estate.id}:outage:{outage.id}:owner:{zhang_id(w)}/channel:sms"
    )
    assert zhang.recipient.address == "13812345678"  # the channel gets the number to dial
    with w.app.unit_of_work(readonly=True) as uow:
        assert uow.outages.get(outage.id) == outage  # the unreachable count is kept too
        assert uow.outages.get(outage.id + 1) is None


def zhang_id(w: Any) -> int:
    return int(next(o.id for o in w.app.owners.list(w.admin, w.estate.id) if o.name == "张三"))


def test_the_owner_of_the_day_of_the_cut_is_told_not_the_owner_of_today(w: Any) -> None:
    _announce(w, building_ids=[], unit_ids=[w.units["202"].id])
    assert [m.recipient.name for m in w.sms.sent] == ["赵六"]
    before_sale = CUT.replace(day=3)
    _announce(
        w, building_ids=[], unit_ids=[w.units["202"].id], starts_at=before_sale,
        ends_at=before_sale + timedelta(hours=2),
    )  # fmt: skip
    assert [m.recipient.name for m in w.sms.sent] == ["赵六", "钱七"]


def test_units_and_buildings_together_count_each_owner_once(w: Any) -> None:
    outage = _announce(w, unit_ids=[w.units["101"].id, w.b2_unit.id, w.units["101"].id])
    assert sorted(m.recipient.name for m in w.sms.sent) == ["张三", "王五", "赵六"]
    assert outage.unit_ids == (w.units["101"].id, w.b2_unit.id)  # repeats dropped
    assert outage.notices == 3


def test_the_event_reports_the_outage_after_commit(w: Any) -> None:
    outage = _announce(w, kind="power", title="配电房检修")
    (envelope,) = w.sub.received
    assert envelope.topic == "outage.announced"
    assert envelope.payload["outage_id"] == outage.id
    assert envelope.payload["kind"] == "power"
    assert envelope.payload["late"] is False
    assert (envelope.payload["notices"], envelope.payload["unreachable"]) == (2, 1)
    assert envelope.payload["unit_count"] == 5
    assert "停电" in w.sms.sent[0].body


def test_phones_are_masked_in_the_log(w: Any, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="propcare.notifications"):
        _announce(w, channel="log")
    assert "138****5678" in caplog.text and "139****6666" in caplog.text
    assert "13812345678" not in caplog.text and "13955556666" not in caplog.text
    assert "停水通知" in caplog.text
    assert w.sms.sent == []  # the channel named was used, not the default


def test_the_notice_reads_in_english_too(w: Any) -> None:
    subject, body = w.app.templates.render(
        "outage_notice",
        "en",
        {
            "estate": "Cuiyuan",
            "name": "Zhang San",
            "title": "tank cleaning",
            "what": "停水",
            "what_en": "water",
            "units": "1栋101",
            "starts": "2026-11-05 09:00",
            "ends": "2026-11-05 15:00",
        },
    )
    assert subject == "[Cuiyuan] Planned water cut"
    assert body.startswith("Dear Zhang San, because of tank cleaning, the water supply to 1栋101")


def test_the_default_channel_is_the_log_when_no_ticket_channel_is_set(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with _open(FixedClock(NOW)) as app, caplog.at_level(logging.INFO):
        admin = Actor.system()
        estate = app.estates.create(admin, "A苑")
        building = app.estates.add_building(admin, estate.id, "1栋")
        unit = app.estates.add_unit(admin, building.id, "101", Decimal(80))
        owner = app.owners.create(admin, estate.id, "张三", ["13812345678"])
        app.owners.assign(admin, unit.id, owner.id, date(2020, 1, 1))
        app.outages.announce(
            admin, estate.id, kind="gas", title="燃气管道改造", starts_at=CUT,
            ends_at=CUT_END, unit_ids=[unit.id],
        )  # fmt: skip
        app.dispatch_idle()
    assert "停气通知" in caplog.text


# --- late notices -------------------------------------------------------------------------


def test_a_notice_exactly_the_lead_time_ahead_is_on_time_a_minute_less_is_late(w: Any) -> None:
    on_time = _announce(w, at=CUT - timedelta(hours=24))
    late = _announce(w, at=CUT - timedelta(hours=23, minutes=59))
    assert (on_time.late, late.late) == (False, True)
    assert on_time.lead == timedelta(hours=24)
    assert late.notice_given == timedelta(hours=23, minutes=59)
    assert w.app.outages.late_count(w.clerk, w.estate.id, *NOVEMBER) == 1
    listed = w.app.outages.list(w.clerk, w.estate.id, *NOVEMBER)
    assert listed == [on_time, late]  # read back whole, the unreachable count too
    assert [o.late for o in listed] == [False, True]
    assert listed[0].starts_at.tzinfo == SH  # shown in the estate's zone


def test_late_notices_are_counted_by_the_month_the_cut_starts(w: Any) -> None:
    _announce(w, at=CUT - timedelta(hours=2))
    december = CUT.replace(month=12, day=1)
    _announce(w, starts_at=december, ends_at=december + timedelta(hours=1), at=december)
    _announce(w, starts_at=december, ends_at=december + timedelta(hours=1))  # days ahead
    count = w.app.outages.late_count
    assert count(w.clerk, w.estate.id, *NOVEMBER) == 1
    assert count(w.clerk, w.estate.id, NOVEMBER[1], datetime(2027, 1, 1, tzinfo=SH)) == 1
    assert count(w.clerk, w.estate.id, NOVEMBER[0], datetime(2027, 1, 1, tzinfo=SH)) == 2
    assert [o.starts_at for o in w.app.outages.list(w.clerk, w.estate.id, *NOVEMBER)] == [CUT]


def test_announcing_after_the_cut_began_is_late(w: Any) -> None:
    assert _announce(w, at=CUT + timedelta(minutes=10)).late


def test_the_lead_time_comes_from_the_config() -> None:
    clock = FixedClock(NOW)
    admin = Actor.system()
    with _open(clock, tickets={"outage_lead_hours": 48}) as app:
        estate = app.estates.create(admin, "A苑")
        building = app.estates.add_building(admin, estate.id, "1栋")
        outage = app.outages.announce(
            admin, estate.id, kind="power", title="检修", starts_at=CUT, ends_at=CUT_END,
            building_ids=[building.id], at=CUT - timedelta(hours=47),
        )  # fmt: skip
        assert outage.late and outage.lead == timedelta(hours=48)
    with _open(clock, tickets={"outage_lead_hours": {"default": 12, "2": 72}}) as app:
        first = app.estates.create(admin, "A苑")
        second = app.estates.create(admin, "B苑")
        for estate, late in ((first, False), (second, True)):
            building = app.estates.add_building(admin, estate.id, "1栋")
            outage = app.outages.announce(
                admin, estate.id, kind="water", title="检修", starts_at=CUT, ends_at=CUT_END,
                building_ids=[building.id], at=CUT - timedelta(hours=24),
            )  # fmt: skip
            assert outage.late is late


@pytest.mark.parametrize("setting", [0, -3, "24", True, float("nan"), {"default": 0}, {"翠苑": 24}])
def test_a_bad_lead_time_fails_when_the_app_opens(setting: Any) -> None:
    with pytest.raises(ConfigError, match="outage_lead_hours"):
        _open(FixedClock(NOW), tickets={"outage_lead_hours": setting})


# --- bad input, roles, isolation --------------------------------------------------------------


BAD: dict[str, tuple[dict[str, Any], type[Exception], str]] = {
    "naive start": ({"starts_at": CUT.replace(tzinfo=None)}, ValidationError, "starts_at"),
    "naive at": ({"at": NOW.replace(tzinfo=None)}, ValidationError, "timezone-aware"),
    "ends before it starts": ({"ends_at": CUT - timedelta(hours=1)}, ValidationError, "ends_at"),
    "ends as it starts": ({"ends_at": CUT}, ValidationError, "ends_at"),
    "nothing cut": ({"building_ids": []}, ValidationError, "at least one building or unit"),
    "unknown kind": ({"kind": "internet"}, ValidationError, "kind"),
    "empty title": ({"title": " "}, ValidationError, "title"),
    "unknown building": ({"building_ids": [9999]}, ValidationError, "building_ids"),
    "unknown unit": ({"unit_ids": [9999]}, ValidationError, "unit_ids"),
    "ids not a list": ({"unit_ids": 3}, ValidationError, "unit_ids"),
    "ids a float": ({"building_ids": 1.5}, ValidationError, "building_ids"),
    "id not an int": ({"unit_ids": ["3"]}, ValidationError, "unit_ids"),
    "unknown channel": ({"channel": "wechat"}, ConfigError, "channel"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_writes_and_sends_nothing(w: Any, case: str) -> None:
    changes, error, match = BAD[case]
    before = _dump(w.app)
    with pytest.raises(error, match=match):
        _announce(w, **changes)
    assert _dump(w.app) == before
    assert w.sms.sent == [] and w.sub.received == []


def test_a_unit_of_another_estate_is_refused(w: Any) -> None:
    other = w.app.estates.create(w.admin, "别的小区")
    building = w.app.estates.add_building(w.admin, other.id, "9栋")
    unit = w.app.estates.add_unit(w.admin, building.id, "901", Decimal(90))
    before = _dump(w.app)
    with pytest.raises(ValidationError, match=f"no unit with this id in estate {w.estate.id}"):
        _announce(w, unit_ids=[unit.id])
    with pytest.raises(ValidationError, match="no building"):
        _announce(w, building_ids=[building.id])
    assert _dump(w.app) == before


def test_the_front_desk_announces_a_technician_may_not(w: Any) -> None:
    assert _announce(w).announced_by_staff_id == w.clerk_id
    with pytest.raises(PermissionDenied, match="outage.announce"):
        w.app.outages.announce(
            w.tech, w.estate.id, kind="water", title="x", starts_at=CUT, ends_at=CUT_END,
            building_ids=[w.b1.id],
        )  # fmt: skip
    with pytest.raises(PermissionDenied, match="outage.read"):
        w.app.outages.late_count(w.tech, w.estate.id, *NOVEMBER)


def test_another_estate_sees_no_outage(w: Any) -> None:
    _announce(w)
    other = w.app.estates.create(w.admin, "别的小区")
    outsider = Actor("外人", {"admin"}, {other.id})
    with pytest.raises(NotFound):
        w.app.outages.list(outsider, w.estate.id, *NOVEMBER)
    assert w.app.outages.list(outsider, other.id, *NOVEMBER) == []
    assert w.app.outages.late_count(outsider, other.id, *NOVEMBER) == 0


def test_a_period_must_be_aware_and_forward(w: Any) -> None:
    with pytest.raises(ValidationError, match="end"):
        w.app.outages.list(w.clerk, w.estate.id, NOVEMBER[1], NOVEMBER[0])
    with pytest.raises(ValidationError, match="start"):
        w.app.outages.late_count(w.clerk, w.estate.id, datetime(2026, 11, 1), NOVEMBER[1])


# --- the guide's code runs -------------------------------------------------------------------

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def test_the_python_blocks_of_the_tickets_guide_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = _FENCE.findall(GUIDE.read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, Any] = {"__name__": "docs_tickets_sla"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{GUIDE.name} (python block {index + 1})", "exec"), namespace)
    # The transition table the guide shows is the one TRANSITIONS gives today.
    assert namespace["transition_table"]() in GUIDE.read_text(encoding="utf-8")
