"""Outbox operations: failed deliveries are listed and requeued per estate (API and CLI), and
auto-dispatch runs off the caller's thread, so a slow channel never holds up the call."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner, Result

from propcare import (
    Actor,
    EventEnvelope,
    EventSubscriber,
    FixedClock,
    NotFound,
    Propcare,
    Recipient,
    ValidationError,
)
from propcare.cli import main
from propcare.demo import sqlite_url
from propcare.notify.outbox import OutboundMessage
from propcare.plugins.records import DeliveryFailed
from propcare.testing import RecordingChannel, RecordingSubscriber

ADMIN = Actor.system()
OWNER = Recipient("张三", "13812345678")
PARAMS = {"estate": "翠苑", "title": "停水通知", "name": "张三", "body": "明日9:00-12:00停水。"}


class RefusingChannel(RecordingChannel):
    """Refuses every send for good while ``up`` is false, naming the address as gateways do."""

    def __init__(self, name: str = "sms") -> None:
        super().__init__(name)
        self.up = False
        self.attempts = 0

    def send(self, message: OutboundMessage) -> None:
        self.attempts += 1
        if not self.up:
            raise DeliveryFailed(
                f"channel:{self.name}",
                f"gateway refused {message.recipient.address}: number suspended",
                permanent=True,
            )
        super().send(message)


class SlowChannel(RecordingChannel):
    """Takes ``seconds`` over every send, like an SMS gateway having a bad day."""

    def __init__(self, seconds: float, name: str = "slow") -> None:
        super().__init__(name)
        self.seconds = seconds

    def send(self, message: OutboundMessage) -> None:
        time.sleep(self.seconds)
        super().send(message)


def _open(url: str, clock: FixedClock, *plugins: Any, **dispatch: Any) -> Propcare:
    channels = {p.name: {} for p in plugins if isinstance(p, RecordingChannel)}
    return Propcare.open(
        url,
        plugins=list(plugins),
        load_entrypoints=False,
        clock=clock,
        config={"channels": {"log": {}, **channels}, "dispatch": dispatch},
    )


@attrs.define
class World:
    app: Propcare
    sms: RefusingChannel
    a: int
    b: int
    a_ids: list[int]  # failed deliveries of estate A
    b_ids: list[int]  # failed deliveries of estate B


def _failed_ids(app: Propcare) -> list[int]:
    with app.unit_of_work(readonly=True) as uow:
        return [d.delivery_id for d in uow.outbox.deliveries() if d.status == "failed"]


@pytest.fixture
def w(clock: FixedClock) -> Iterator[World]:
    sms = RefusingChannel()
    with _open("sqlite://:memory:", clock, sms) as app:
        a = app.estates.create(ADMIN, "A苑").id
        b = app.estates.create(ADMIN, "B苑").id
        app.notify.send(ADMIN, a, "sms", OWNER, "notice", PARAMS, key="a1")
        app.notify.send(ADMIN, a, "sms", Recipient("李四", "13900001111"), "notice", PARAMS)
        app.dispatch_idle()
        a_ids = _failed_ids(app)
        app.notify.send(ADMIN, b, "sms", Recipient("王五", "13722223333"), "notice", PARAMS)
        app.dispatch_idle()
        b_ids = sorted(set(_failed_ids(app)) - set(a_ids))
        assert len(a_ids) == 2 and len(b_ids) == 1
        yield World(app, sms, a, b, a_ids, b_ids)


# --- listing ------------------------------------------------------------------------------


def test_failed_deliveries_are_listed_with_channel_masked_recipient_attempts_and_error(
    w: World,
) -> None:
    failed = w.app.notify.failed(ADMIN, w.a)
    assert [f.delivery_id for f in failed] == w.a_ids
    first = failed[0]
    assert (first.kind, first.topic, first.target) == (
        "notification",
        "notify.notice",
        "channel:sms",
    )
    assert (first.channel, first.recipient_name, first.recipient) == ("sms", "张三", "138****5678")
    assert first.attempts == 1 and first.estate_id == w.a
    refused = "gateway refused 138****5678: number suspended"
    assert first.error == f"DeliveryFailed: target='channel:sms': {refused}"
    assert first.failed_at == w.app.clock.now() and first.created_at == w.app.clock.now()
    assert all("13812345678" not in repr(f) and "13900001111" not in repr(f) for f in failed)
    assert w.app.notify.failed(ADMIN, w.a, limit=1) == failed[:1]


def test_each_estate_sees_only_its_own_failures(w: World) -> None:
    a_manager = Actor("A经理", {"manager"}, {w.a})
    assert [f.delivery_id for f in w.app.notify.failed(a_manager, w.a)] == w.a_ids
    assert [f.delivery_id for f in w.app.notify.failed(ADMIN, w.b)] == w.b_ids
    with pytest.raises(NotFound, match="A经理"):
        w.app.notify.failed(a_manager, w.b)


def test_failed_events_for_subscribers_are_listed_too(clock: FixedClock) -> None:
    broken = RecordingSubscriber("erp-sync", failures=10**6)
    with _open("sqlite://:memory:", clock, broken, max_attempts=1) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        app.dispatch_idle()
        (failed,) = app.notify.failed(ADMIN, estate.id)
    assert (failed.kind, failed.topic, failed.target) == (
        "event",
        "registry.created",
        "subscriber:erp-sync",
    )
    assert failed.channel is failed.recipient is None and failed.attempts == 1


# --- requeueing ---------------------------------------------------------------------------


def test_a_requeued_delivery_goes_out_again_with_fresh_attempts_and_the_same_key(
    w: World,
) -> None:
    w.sms.up = True
    assert w.app.notify.requeue(ADMIN, w.a, [w.a_ids[0]]) == [w.a_ids[0]]
    assert w.app.dispatch_idle()
    (message,) = w.sms.sent
    assert message.idempotency_key == f"notify:{w.a}:a1/channel:sms"
    with w.app.unit_of_work(readonly=True) as uow:
        by_id = {d.delivery_id: d for d in uow.outbox.deliveries()}
    assert (by_id[w.a_ids[0]].status, by_id[w.a_ids[0]].attempts) == ("delivered", 1)
    assert [f.delivery_id for f in w.app.notify.failed(ADMIN, w.a)] == w.a_ids[1:]


def test_requeue_all_puts_back_every_failure_of_the_estate_and_no_other(w: World) -> None:
    w.app.auto_dispatch = False  # look at the rows before anything is sent
    assert w.app.notify.requeue(ADMIN, w.a, all_failed=True) == w.a_ids
    with w.app.unit_of_work(readonly=True) as uow:
        rows = {d.delivery_id: (d.status, d.attempts) for d in uow.outbox.deliveries()}
    assert [rows[i] for i in w.a_ids] == [("pending", 0), ("pending", 0)]
    assert [rows[i] for i in w.b_ids] == [("failed", 1)]
    assert w.app.notify.requeue(ADMIN, w.a, all_failed=True) == []  # nothing failed now


def test_a_requeue_naming_anything_but_a_failed_delivery_of_the_estate_changes_nothing(
    w: World,
) -> None:
    for wrong in ([w.a_ids[0], w.b_ids[0]], [w.a_ids[0], 10**9]):
        with pytest.raises(NotFound, match="no failed delivery with this id in estate"):
            w.app.notify.requeue(ADMIN, w.a, wrong)
        assert _failed_ids(w.app) == sorted(w.a_ids + w.b_ids)
    w.sms.up = True
    w.app.notify.requeue(ADMIN, w.a, [w.a_ids[0]])
    w.app.dispatch_idle()
    with pytest.raises(NotFound):  # delivered now: nothing to requeue
        w.app.notify.requeue(ADMIN, w.a, [w.a_ids[0]])


def test_an_actor_of_another_estate_cannot_requeue(w: World) -> None:
    b_manager = Actor("B经理", {"manager"}, {w.b})
    with pytest.raises(NotFound, match="B经理"):
        w.app.notify.requeue(b_manager, w.a, w.a_ids)
    with pytest.raises(NotFound):
        w.app.notify.requeue(b_manager, w.b, w.a_ids)  # A's ids, through B's estate
    assert _failed_ids(w.app) == sorted(w.a_ids + w.b_ids)


def test_a_requeue_is_published_and_logged(
    clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    sms = RefusingChannel()
    watcher = RecordingSubscriber("audit", topics=frozenset({"outbox.requeued"}))
    with _open("sqlite://:memory:", clock, sms, watcher) as app:
        estate = app.estates.create(ADMIN, "翠苑").id
        app.notify.send(ADMIN, estate, "sms", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        (failed,) = _failed_ids(app)
        with caplog.at_level(logging.INFO, logger="propcare.notify.service"):
            app.notify.requeue(Actor("值班经理", {"manager"}, {estate}), estate, [failed])
        app.dispatch_idle()
    (event,) = watcher.received
    assert dict(event.payload) == {"delivery_ids": [failed], "by": "值班经理"}
    assert f"值班经理 requeued 1 failed deliveries of estate {estate}: {failed}" in caplog.text


@pytest.mark.parametrize(
    ("ids", "kwargs", "field"),
    [
        ([], {}, "delivery_ids"),  # neither ids nor all
        ([1], {"all_failed": True}, "delivery_ids"),  # both
        ([True], {}, "delivery_id"),
        ([2**63], {}, "delivery_id"),
        (["1"], {}, "delivery_id"),
        ("12", {}, "delivery_ids"),
        ([], {"all_failed": "yes"}, "all_failed"),
    ],
)
def test_bad_requeue_arguments_are_named(w: World, ids: Any, kwargs: Any, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        w.app.notify.requeue(ADMIN, w.a, ids, **kwargs)
    assert caught.value.field == field
    assert _failed_ids(w.app) == sorted(w.a_ids + w.b_ids)


# --- auto-dispatch off the caller's thread --------------------------------------------------


def test_a_slow_channel_does_not_hold_up_notify_send(clock: FixedClock) -> None:
    slow = SlowChannel(2.0)
    with _open("sqlite://:memory:", clock, slow) as app:
        estate = app.estates.create(ADMIN, "翠苑").id
        started = time.monotonic()
        app.notify.send(ADMIN, estate, "slow", OWNER, "notice", PARAMS)
        took = time.monotonic() - started
        assert took < 0.5, f"notify.send waited {took:.2f} s for the channel"
        assert slow.sent == []  # still on its way
        assert app.dispatch_idle(timeout=10)
        assert [m.recipient.address for m in slow.sent] == [OWNER.address]


def test_closing_the_app_lets_the_worker_send_what_was_queued(clock: FixedClock) -> None:
    slow = SlowChannel(0.5)
    with _open("sqlite://:memory:", clock, slow) as app:
        estate = app.estates.create(ADMIN, "翠苑").id
        started = time.monotonic()
        app.notify.send(ADMIN, estate, "slow", OWNER, "notice", PARAMS)
        assert time.monotonic() - started < 0.3 and slow.sent == []
    assert len(slow.sent) == 1  # close() waited for it: a short script still sends


def test_the_dispatcher_log_masks_the_address_a_gateway_quotes(
    w: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="propcare.notify.dispatch"):
        w.app.notify.requeue(ADMIN, w.a, [w.a_ids[0]])
        w.app.dispatch_idle()
    assert "gateway refused 138****5678" in caplog.text
    assert "13812345678" not in caplog.text


def test_close_stops_a_busy_worker_and_puts_back_what_it_did_not_attempt(
    tmp_path: Path, clock: FixedClock
) -> None:
    url = sqlite_url(tmp_path / "busy.db")
    slow = SlowChannel(1.0)
    app = _open(url, clock, slow, auto=False)
    estate = app.estates.create(ADMIN, "翠苑").id
    for i in range(4):
        app.notify.send(ADMIN, estate, "slow", OWNER, "notice", PARAMS, key=f"k{i}")
    app.auto_dispatch = True
    app.notify.send(ADMIN, estate, "slow", OWNER, "notice", PARAMS, key="k4")  # starts the worker
    time.sleep(0.1)  # the first send is under way; it ends at about 1.0 s
    app.close(dispatch_timeout=0.6)  # stops the worker at 0.7 s and waits until 1.3 s
    assert len(slow.sent) == 1
    with _open(url, clock, auto=False) as again, again.unit_of_work(readonly=True) as uow:
        states = sorted((d.status, d.attempts) for d in uow.outbox.deliveries())
    assert states == [("delivered", 1)] + [("pending", 0)] * 4


def test_a_subscriber_that_writes_is_waited_for_by_dispatch_idle(clock: FixedClock) -> None:
    chan = RecordingChannel()
    with _open("sqlite://:memory:", clock, chan) as app:

        def greet(envelope: EventEnvelope) -> None:  # queues a notification of its own
            assert envelope.estate_id is not None
            app.notify.send(ADMIN, envelope.estate_id, "recording", OWNER, "notice", PARAMS)

        app.subscribe(EventSubscriber("greeter", greet, frozenset({"registry.created"})))
        app.estates.create(ADMIN, "翠苑")
        assert app.dispatch_idle(timeout=10)
        assert len(chan.sent) == 1


def test_the_worker_and_explicit_dispatch_never_send_one_delivery_twice(
    tmp_path: Path, clock: FixedClock
) -> None:
    chan = RecordingChannel()
    with _open(sqlite_url(tmp_path / "race.db"), clock, chan) as app:
        estate = app.estates.create(ADMIN, "翠苑").id
        stop = threading.Event()

        def dispatch_all_the_time() -> None:
            while not stop.is_set():
                app.dispatcher.dispatch()

        other = threading.Thread(target=dispatch_all_the_time)
        other.start()
        try:
            for i in range(40):
                app.notify.send(ADMIN, estate, "recording", OWNER, "notice", PARAMS, key=f"n{i}")
            app.dispatch_idle()
        finally:
            stop.set()
            other.join()
        app.dispatch()
    keys = [m.idempotency_key for m in chan.sent]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == 40


def test_with_auto_dispatch_off_only_an_explicit_dispatch_sends(clock: FixedClock) -> None:
    chan = RecordingChannel()
    with _open("sqlite://:memory:", clock, chan, auto=False) as app:
        estate = app.estates.create(ADMIN, "翠苑").id
        app.notify.send(ADMIN, estate, "recording", OWNER, "notice", PARAMS)
        assert app.dispatch_idle(timeout=0)  # no worker: nothing to wait for
        assert chan.sent == []
        assert app.dispatch().delivered == 1 and len(chan.sent) == 1


# --- the command line ------------------------------------------------------------------------


def run(*args: str) -> Result:
    env = {"COLUMNS": "300", "NO_COLOR": "1", "PROPCARE_CONFIG": None, "PROPCARE_DB": None}
    return CliRunner().invoke(main, list(args), env=env)


@pytest.fixture
def failed_db(tmp_path: Path, clock: FixedClock) -> tuple[Path, list[int], list[int]]:
    """A database with two failed SMS in estate 1 and one in estate 2."""
    path = tmp_path / "failed.db"
    sms = RefusingChannel()
    with _open(sqlite_url(path), clock, sms) as app:
        a = app.estates.create(ADMIN, "A苑").id
        b = app.estates.create(ADMIN, "B苑").id
        app.notify.send(ADMIN, a, "sms", OWNER, "notice", PARAMS)
        app.notify.send(ADMIN, a, "sms", Recipient("李四", "13900001111"), "notice", PARAMS)
        app.dispatch_idle()
        a_ids = _failed_ids(app)
        app.notify.send(ADMIN, b, "sms", Recipient("王五", "13722223333"), "notice", PARAMS)
        app.dispatch_idle()
        b_ids = sorted(set(_failed_ids(app)) - set(a_ids))
    return path, a_ids, b_ids


def test_the_cli_lists_an_estates_failed_deliveries_masked(
    failed_db: tuple[Path, list[int], list[int]],
) -> None:
    path, _, _ = failed_db
    result = run("outbox", "failed", "--db", str(path), "--estate", "1")
    assert result.exit_code == 0, result.stderr
    assert "138****5678" in result.stdout and "139****1111" in result.stdout
    assert "13812345678" not in result.stdout and "137****3333" not in result.stdout
    assert "number suspended" in result.stdout and "channel:sms" in result.stdout
    assert "2 failed" in result.stdout
    empty = run("outbox", "failed", "--db", str(path), "--estate", "2", "--limit", "1")
    assert "137****3333" in empty.stdout and "1 failed" in empty.stdout


def test_the_cli_requeues_by_id_or_all_and_refuses_other_ids_in_one_line(
    failed_db: tuple[Path, list[int], list[int]],
) -> None:
    path, a_ids, b_ids = failed_db
    refused = run("outbox", "requeue", "--db", str(path), "--estate", "1", "--id", str(b_ids[0]))
    assert refused.exit_code == 1
    (error,) = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: delivery_id=") and "Traceback" not in refused.output
    one = run("outbox", "requeue", "--db", str(path), "--estate", "1", "--id", str(a_ids[0]))
    assert one.exit_code == 0, one.stderr
    assert f"Requeued 1 deliveries of A苑: {a_ids[0]}." in one.stdout
    rest = run("outbox", "requeue", "--db", str(path), "--estate", "1", "--all")
    assert rest.exit_code == 0 and f"Requeued 1 deliveries of A苑: {a_ids[1]}." in rest.stdout
    with (
        Propcare.open(sqlite_url(path), load_entrypoints=False) as app,
        app.unit_of_work(readonly=True) as uow,
    ):
        rows = {d.delivery_id: (d.status, d.attempts) for d in uow.outbox.deliveries()}
    # Not sent from the command: it has no SMS channel; the application's dispatcher sends.
    assert [rows[i] for i in a_ids] == [("pending", 0), ("pending", 0)]
    assert [rows[i] for i in b_ids] == [("failed", 1)]


def test_the_cli_requeue_wants_ids_or_all(failed_db: tuple[Path, list[int], list[int]]) -> None:
    path, *_ = failed_db
    for extra in ([], ["--id", "1", "--all"]):
        result = run("outbox", "requeue", "--db", str(path), "--estate", "1", *extra)
        assert result.exit_code == 2
        assert "give --id N (one or more) or --all" in result.stderr


def test_the_cli_requeue_sends_them_itself_when_asked(tmp_path: Path, clock: FixedClock) -> None:
    path = tmp_path / "log.db"
    with _open(sqlite_url(path), clock, auto=False) as app:
        estate = app.estates.create(ADMIN, "A苑").id
        app.notify.send(ADMIN, estate, "log", OWNER, "notice", PARAMS)
        with app.unit_of_work() as uow:  # the log channel was down that day
            (claimed,) = uow.outbox.claim_due(clock.now(), clock.now(), 10)
            uow.outbox.mark_failed(claimed.delivery_id, clock.now(), "log server down")
            uow.commit()
    result = run("outbox", "requeue", "--db", str(path), "--estate", "1", "--all", "--send")
    assert result.exit_code == 0, result.output
    assert f"Requeued 1 deliveries of A苑: {claimed.delivery_id}." in result.stdout
    assert "Sent now: 1 delivered, 0 to retry, 0 failed" in result.stdout
