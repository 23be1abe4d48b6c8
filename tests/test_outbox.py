"""Events and notifications leave only after commit, once per target, with retries."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from propcare import Actor, ConfigError, FixedClock, Propcare, Recipient, ValidationError
from propcare.testing import FlakyChannel, RecordingChannel, RecordingSubscriber

OWNER = Recipient("张三", "13812345678")
PARAMS = {"estate": "翠苑", "title": "停水通知", "name": "张三", "body": "明日9:00-12:00停水。"}


def _open(url: str, clock: FixedClock, *plugins: object, **config: object) -> Propcare:
    channels = {p.name: {} for p in plugins if isinstance(p, RecordingChannel)}  # type: ignore[attr-defined]
    return Propcare.open(
        url,
        plugins=list(plugins),
        load_entrypoints=False,
        clock=clock,
        config={"channels": {"log": {}, **channels}, **config},
    )


def _deliveries(app: Propcare) -> list[tuple[str, str, int]]:
    with app.unit_of_work(readonly=True) as uow:
        return [(d.target, d.status, d.attempts) for d in uow.outbox.deliveries()]


def test_a_committed_change_reaches_each_subscriber_once(clock: FixedClock, admin: Actor) -> None:
    one, two = RecordingSubscriber("one"), RecordingSubscriber("two")
    with _open("sqlite://:memory:", clock, one, two) as app:
        estate = app.estates.create(admin, "翠苑")
        app.dispatch()
        app.dispatch()
    assert one.topics_received() == two.topics_received() == ["registry.created"]
    envelope = one.received[0]
    assert envelope.payload == {"kind": "estate", "record_id": estate.id}
    assert envelope.estate_id == estate.id
    assert envelope.idempotency_key.endswith("/subscriber:one")


def test_a_rolled_back_change_sends_nothing(clock: FixedClock, admin: Actor) -> None:
    sub, chan = RecordingSubscriber(), RecordingChannel()
    with _open("sqlite://:memory:", clock, sub, chan) as app:
        estate = app.estates.create(admin, "翠苑")
        app.dispatch_idle()
        sub.received.clear()
        with pytest.raises(RuntimeError), app.unit_of_work() as uow:
            from propcare.registry.events import RecordCreated

            app.publish(
                uow, RecordCreated(estate_id=estate.id, at=clock.now(), kind="x", record_id=1)
            )
            app.notify.queue(
                uow,
                __import__("propcare.notify.outbox", fromlist=["Notification"]).Notification(
                    estate_id=estate.id,
                    channel="recording",
                    recipient=OWNER,
                    template="notice",
                    params=PARAMS,
                ),
            )
            raise RuntimeError("the change failed")
        assert app.dispatch().delivered == 0
    assert sub.received == [] and chan.sent == []


def test_topics_filter_what_a_subscriber_receives(clock: FixedClock, admin: Actor) -> None:
    owners_only = RecordingSubscriber("owners", topics=frozenset({"registry.ownership_changed"}))
    with _open("sqlite://:memory:", clock, owners_only) as app:
        estate = app.estates.create(admin, "翠苑")
        building = app.estates.add_building(admin, estate.id, "1栋")
        unit = app.estates.add_unit(admin, building.id, "101", __import__("decimal").Decimal(80))
        owner = app.owners.create(admin, estate.id, "李")
        app.owners.assign(admin, unit.id, owner.id, __import__("datetime").date(2024, 1, 1))
    assert owners_only.topics_received() == ["registry.ownership_changed"]
    assert owners_only.received[0].payload["owner_id"] == owner.id


def test_a_failing_subscriber_never_stops_the_others_or_the_caller(
    clock: FixedClock, admin: Actor
) -> None:
    broken = RecordingSubscriber("broken", failures=10**6)
    fine = RecordingSubscriber("fine")
    with _open("sqlite://:memory:", clock, broken, fine) as app:
        estate = app.estates.create(admin, "翠苑")  # must not raise
        assert app.estates.get(admin, estate.id) == estate
        app.dispatch_idle()
        assert ("subscriber:fine", "delivered", 1) in _deliveries(app)
        assert ("subscriber:broken", "pending", 1) in _deliveries(app)
    assert fine.topics_received() == ["registry.created"]


def test_a_channel_that_fails_n_times_delivers_once_when_it_recovers(
    clock: FixedClock, admin: Actor
) -> None:
    flaky = FlakyChannel(failures=3)
    with _open("sqlite://:memory:", clock, flaky) as app:
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "flaky", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        assert flaky.sent == [] and flaky.attempts == 1
        # Not due yet: the backoff holds the retry back.
        assert app.dispatch().delivered == 0 and flaky.attempts == 1
        waits = []
        while not flaky.sent:
            delay = app.dispatcher.backoff.delay(flaky.attempts)
            waits.append(delay)
            clock.advance(delay)
            app.dispatch()
        clock.advance(hours=5)
        app.dispatch()
        assert ("channel:flaky", "delivered", 4) in _deliveries(app)
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert flaky.attempts == 4 and len(flaky.sent) == 1
    message = flaky.sent[0]
    assert message.subject == "【翠苑】停水通知"
    assert message.body.startswith("尊敬的张三")


def test_a_permanent_failure_is_recorded_with_its_reason(clock: FixedClock, admin: Actor) -> None:
    rejecting = FlakyChannel(failures=1, name="rejecting", permanent=True)
    with _open("sqlite://:memory:", clock, rejecting) as app:
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "rejecting", OWNER, "notice", PARAMS)
        clock.advance(days=1)
        app.dispatch()
        with app.unit_of_work(readonly=True) as uow:
            (delivery,) = [d for d in uow.outbox.deliveries() if d.target == "channel:rejecting"]
    assert delivery.status == "failed" and delivery.attempts == 1
    assert "down (attempt 1)" in (delivery.last_error or "")
    assert rejecting.sent == []


def test_retries_stop_after_max_attempts(clock: FixedClock, admin: Actor) -> None:
    down = FlakyChannel(failures=100, name="down")
    with _open("sqlite://:memory:", clock, down, dispatch={"max_attempts": 3}) as app:
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "down", OWNER, "notice", PARAMS)
        for _ in range(10):
            clock.advance(hours=2)
            app.dispatch()
        assert ("channel:down", "failed", 3) in _deliveries(app)
    assert down.attempts == 3


def test_a_crash_after_commit_sends_later_once(
    tmp_path: Path, clock: FixedClock, admin: Actor
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    # The first process commits and dies before its dispatcher runs.
    with _open(url, clock, RecordingChannel("sms"), dispatch={"auto": False}) as app:
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "sms", OWNER, "notice", PARAMS, key="outage-1")
    restarted = RecordingChannel("sms")
    with _open(url, clock, restarted) as app:
        assert app.dispatch().delivered == 1
        assert app.dispatch().delivered == 0
    with _open(url, clock, restarted) as app:
        assert app.dispatch().delivered == 0
    assert len(restarted.sent) == 1
    assert restarted.sent[0].idempotency_key == f"notify:{estate.id}:outage-1/channel:sms"


def test_a_crash_mid_send_is_retried_after_the_lease_with_the_same_key(
    tmp_path: Path, clock: FixedClock, admin: Actor
) -> None:
    url = f"sqlite:///{tmp_path / 'lease.db'}"
    with _open(url, clock, RecordingChannel("sms"), dispatch={"auto": False}) as app:
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "sms", OWNER, "notice", PARAMS, key="k")
        with app.unit_of_work() as uow:  # a dispatcher claims, then its process dies
            claimed = uow.outbox.claim_due(clock.now(), clock.now() + timedelta(minutes=5), 10)
            uow.commit()
        assert len(claimed) == 1
    receiver = RecordingChannel("sms")
    with _open(url, clock, receiver) as app:
        assert app.dispatch().delivered == 0  # still leased to the dead process
        clock.advance(minutes=6)
        assert app.dispatch().delivered == 1
    assert [m.idempotency_key for m in receiver.sent] == [f"notify:{estate.id}:k/channel:sms"]


def test_the_same_notification_key_is_queued_once(clock: FixedClock, admin: Actor) -> None:
    chan = RecordingChannel()
    with _open("sqlite://:memory:", clock, chan) as app:
        estate = app.estates.create(admin, "翠苑")
        first = app.notify.send(admin, estate.id, "recording", OWNER, "notice", PARAMS, key="n1")
        again = app.notify.send(admin, estate.id, "recording", OWNER, "notice", PARAMS, key="n1")
    assert first == again and len(chan.sent) == 1


def test_bad_notifications_are_refused_before_anything_is_written(
    clock: FixedClock, admin: Actor
) -> None:
    with _open("sqlite://:memory:", clock) as app:
        estate = app.estates.create(admin, "翠苑")
        with pytest.raises(ConfigError, match="channel='sms'.*configured: log"):
            app.notify.send(admin, estate.id, "sms", OWNER, "notice", PARAMS)
        with pytest.raises(ValidationError, match="needs the parameter 'name'"):
            app.notify.send(admin, estate.id, "log", OWNER, "notice", {"estate": "x", "title": "t"})
        with pytest.raises(ValidationError, match="template='nope'"):
            app.notify.send(admin, estate.id, "log", OWNER, "nope", PARAMS)
        with app.unit_of_work(readonly=True) as uow:
            assert [m.topic for m in uow.outbox.messages()] == ["registry.created"]


def test_the_log_channel_masks_the_address(
    clock: FixedClock, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    with _open("sqlite://:memory:", clock) as app, caplog.at_level("INFO"):
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "log", OWNER, "notice", PARAMS, locale="en")
        app.dispatch_idle()
    assert "138****5678" in caplog.text and "13812345678" not in caplog.text
    assert "Dear 张三" in caplog.text


def test_backoff_grows_and_is_capped() -> None:
    from propcare.notify.outbox import Backoff

    b = Backoff(base=timedelta(seconds=10), cap=timedelta(minutes=1), max_attempts=5)
    assert [b.delay(n).total_seconds() for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert not b.exhausted(4) and b.exhausted(5)
    with pytest.raises(ValidationError):
        b.delay(0)


def test_notification_keys_are_scoped_per_estate(clock: FixedClock, admin: Actor) -> None:
    chan = RecordingChannel()
    with _open("sqlite://:memory:", clock, chan) as app:
        a = app.estates.create(admin, "A苑")
        b = app.estates.create(admin, "B苑")
        first = app.notify.send(admin, a.id, "recording", OWNER, "notice", PARAMS, key="k")
        second = app.notify.send(admin, b.id, "recording", OWNER, "notice", PARAMS, key="k")
    assert first != second
    assert sorted(m.estate_id for m in chan.sent) == sorted([a.id, b.id])


def test_a_key_reused_for_a_different_message_is_a_conflict(
    clock: FixedClock, admin: Actor
) -> None:
    from propcare import Conflict

    with _open("sqlite://:memory:", clock) as app:
        estate = app.estates.create(admin, "翠苑")
        app.notify.send(admin, estate.id, "log", OWNER, "notice", PARAMS, key="k")
        changed = {**PARAMS, "body": "改期到后天。"}
        with pytest.raises(Conflict, match="key='notify:1:k'"):
            app.notify.send(admin, estate.id, "log", OWNER, "notice", changed, key="k")


def test_a_duplicate_subscriber_name_is_refused_without_breaking_the_app(
    clock: FixedClock, admin: Actor
) -> None:
    from propcare import EventSubscriber

    sub = RecordingSubscriber("mirror")
    with _open("sqlite://:memory:", clock, sub) as app:
        with pytest.raises(ConfigError, match="subscriber='mirror'"):
            app.subscribe(EventSubscriber(name="mirror", handle=lambda e: None))
        app.estates.create(admin, "翠苑")  # still works
    assert sub.topics_received() == ["registry.created"]


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138 1234 5678", "138****5678"),
        ("0571-8888 6666", "057*****6666"),
        ("zhang@example.com", "z***@example.com"),
    ],
)
def test_recipient_addresses_are_masked(address: str, masked: str) -> None:
    assert Recipient("x", address).masked == masked
