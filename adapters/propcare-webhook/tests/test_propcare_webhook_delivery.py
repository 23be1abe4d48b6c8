"""End to end: app.notify.send -> outbox -> webhook -> a real local HTTP receiver."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any
from zoneinfo import ZoneInfo

import propcare_webhook
import pytest
from propcare_webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookChannel,
    verify,
)
from propcare_webhook_receiver import Receiver, Reply

from propcare import (
    Actor,
    DeliveryFailed,
    FixedClock,
    OutboundMessage,
    Propcare,
    Recipient,
)
from propcare.storage.ports import Delivery

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
SECRET = "whsec-翠苑-0123456789"
OWNER = Recipient("张三", "13812345678")
PARAMS = {"estate": "翠苑", "title": "停水通知", "name": "张三", "body": "明日9:00-12:00停水。"}
ADMIN = Actor.system()


def settings(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "secret": SECRET, "timeout": 2, **extra}


@contextmanager
def opened(url: str, clock: FixedClock, **extra: Any) -> Iterator[Propcare]:
    with Propcare.open(
        "sqlite://:memory:",
        plugins=[propcare_webhook],
        load_entrypoints=False,
        clock=clock,
        config={"channels": {"webhook": settings(url, **extra)}},
    ) as app:
        yield app


def webhook_deliveries(app: Propcare) -> list[Delivery]:
    with app.unit_of_work(readonly=True) as uow:
        return [d for d in uow.outbox.deliveries() if d.target == "channel:webhook"]


def free_port() -> int:
    """A port nothing listens on (yet): connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def message(key: str = "notify:1:k/channel:webhook") -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        channel="webhook",
        estate_id=None,
        recipient=OWNER,
        subject="【翠苑】停水通知",
        body="尊敬的张三：明日停水。",
        locale="zh-CN",
        template="notice",
        created_at=T0,
    )


def test_a_notification_arrives_signed_with_every_field_and_the_chinese_text_intact() -> None:
    clock = FixedClock(T0)
    with Receiver(SECRET) as receiver, opened(receiver.url, clock) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        before = int(time.time())
        app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS, key="outage-7")
        app.dispatch_idle()
        after = int(time.time())
        (delivery,) = webhook_deliveries(app)
        (request,) = receiver.requests
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("delivered", 1, None)
    assert request.rejection is None and request.status == 200
    assert request.path == "/propcare/notify?token=t0ken"  # the query string is kept
    key = f"notify:{estate.id}:outage-7/channel:webhook"
    assert request.header(IDEMPOTENCY_HEADER) == key
    assert request.header("Content-Type") == "application/json; charset=utf-8"
    stamp = int(request.header(TIMESTAMP_HEADER))
    assert before <= stamp <= after
    # Checked again here, independently of the receiver, against the exact bytes sent.
    verify(
        SECRET,
        dict(request.headers),
        request.body,
        now=datetime.fromtimestamp(stamp, UTC),
        tolerance=1,
    )
    assert request.header(SIGNATURE_HEADER).startswith("sha256=")
    document = request.document()
    created_at = document.pop("created_at")
    assert document == {
        "idempotency_key": key,
        "channel": "webhook",
        "estate_id": estate.id,
        "recipient": {"name": "张三", "address": "13812345678"},
        "subject": "【翠苑】停水通知",
        "body": "尊敬的张三：明日9:00-12:00停水。",
        "locale": "zh-CN",
        "template": "notice",
    }
    assert datetime.fromisoformat(created_at) == T0
    # ensure_ascii=False: the UTF-8 text itself travels, not \\u escapes.
    assert "尊敬的张三".encode() in request.body and b"\\u" not in request.body


def test_a_gateway_answering_503_twice_gets_it_once_after_backoff_with_one_key() -> None:
    clock = FixedClock(T0)
    replies = [Reply(503, body=b"busy"), Reply(503, body=b"busy"), Reply(200)]
    with Receiver(SECRET, replies) as receiver, opened(receiver.url, clock) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        (first,) = webhook_deliveries(app)
        assert (first.status, first.attempts) == ("pending", 1)
        assert "HTTP 503 Service Unavailable: busy" in (first.last_error or "")
        # Before the backoff has passed nothing is sent again.
        assert app.dispatch().delivered == 0 and len(receiver.requests) == 1
        clock.advance(app.dispatcher.backoff.delay(1))
        assert app.dispatch().retried == 1
        clock.advance(app.dispatcher.backoff.delay(2))
        assert app.dispatch().delivered == 1
        clock.advance(hours=5)
        assert app.dispatch().delivered == 0
        (delivery,) = webhook_deliveries(app)
        requests = receiver.requests
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert [r.status for r in requests] == [503, 503, 200]
    assert all(r.rejection is None for r in requests)  # each attempt signed afresh and valid
    keys = {r.header(IDEMPOTENCY_HEADER) for r in requests}
    assert keys == {r.document()["idempotency_key"] for r in requests}
    assert len(keys) == 1


def test_a_400_fails_for_good_after_one_attempt_with_the_reason() -> None:
    clock = FixedClock(T0)
    refusal = Reply(400, body='{"error": "号码格式错误 invalid phone number"}'.encode())
    with Receiver(SECRET, [refusal]) as receiver, opened(receiver.url, clock) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        for _ in range(3):
            clock.advance(hours=2)
            app.dispatch()
        (delivery,) = webhook_deliveries(app)
        assert len(receiver.requests) == 1
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    reason = delivery.last_error or ""
    assert "HTTP 400 Bad Request" in reason and "号码格式错误 invalid phone number" in reason
    assert "t0ken" not in reason  # the URL's query may hold a token; reasons leave it out


def test_a_gateway_slower_than_the_timeout_is_retried_with_the_same_key() -> None:
    clock = FixedClock(T0)
    with (
        Receiver(SECRET, [Reply(200, delay=1.5), Reply(200)]) as receiver,
        opened(receiver.url, clock, timeout=0.3) as app,
    ):
        estate = app.estates.create(ADMIN, "翠苑")
        started = time.monotonic()
        app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        waited = time.monotonic() - started
        (first,) = webhook_deliveries(app)
        assert (first.status, first.attempts) == ("pending", 1)
        assert "no answer from http://127.0.0.1:" in (first.last_error or "")
        assert "within 0.3 s" in (first.last_error or "")
        clock.advance(app.dispatcher.backoff.delay(1))
        assert app.dispatch().delivered == 1
        (delivery,) = webhook_deliveries(app)
        requests = receiver.requests
    assert waited < 1.4  # the channel gave up at its timeout, not when the receiver answered
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    # The slow first request reached the gateway too: it must dedupe on the key.
    assert len(requests) == 2
    assert requests[0].header(IDEMPOTENCY_HEADER) == requests[1].header(IDEMPOTENCY_HEADER)


def test_a_gateway_that_is_down_is_retried_and_delivered_when_it_is_back() -> None:
    clock = FixedClock(T0)
    port = free_port()
    with opened(f"http://127.0.0.1:{port}/propcare/notify", clock) as app:
        estate = app.estates.create(ADMIN, "翠苑")
        app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        (down,) = webhook_deliveries(app)
        assert (down.status, down.attempts) == ("pending", 1)
        assert f"cannot reach http://127.0.0.1:{port}/propcare/notify" in (down.last_error or "")
        assert "refused" in (down.last_error or "").lower()
        clock.advance(app.dispatcher.backoff.delay(1))
        assert app.dispatch().retried == 1  # still down
        with Receiver(SECRET, port=port) as receiver:
            clock.advance(app.dispatcher.backoff.delay(2))
            assert app.dispatch().delivered == 1
            requests = receiver.requests
        (delivery,) = webhook_deliveries(app)
    assert (delivery.status, delivery.attempts) == ("delivered", 3)
    assert len(requests) == 1 and requests[0].rejection is None
    assert requests[0].document()["idempotency_key"].endswith("/channel:webhook")


def test_the_installed_entry_point_provides_the_channel() -> None:
    (point,) = [e for e in entry_points(group="propcare") if e.name == "webhook"]
    assert point.value == "propcare_webhook"
    clock = FixedClock(T0)
    with (
        Receiver(SECRET) as receiver,
        Propcare.open(
            "sqlite://:memory:",
            clock=clock,
            config={"channels": {"webhook": settings(receiver.url)}},
        ) as app,
    ):
        assert "webhook" in app.host.plugin_names()
        offers = [p for p in app.host.notification_channels() if p.record.name == "webhook"]
        assert [p.plugin for p in offers] == ["webhook"]
        assert isinstance(app.channels["webhook"], WebhookChannel)
        estate = app.estates.create(ADMIN, "翠苑")
        app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS)
        app.dispatch_idle()
        (delivery,) = webhook_deliveries(app)
        requests = receiver.requests
    assert delivery.status == "delivered"
    assert len(requests) == 1 and requests[0].rejection is None


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        (500, False),
        (502, False),
        (503, False),
        (408, False),  # request timeout: the receiver says "not now"
        (429, False),  # too many requests: the same
        (400, True),
        (401, True),
        (403, True),
        (404, True),
        (410, True),
        (422, True),
    ],
)
def test_what_each_status_means_for_retries(status: int, permanent: bool) -> None:
    with Receiver(SECRET, [Reply(status, body=b"nope")]) as receiver:
        channel = WebhookChannel(settings(receiver.url))
        with pytest.raises(DeliveryFailed, match=f"HTTP {status} .*: nope") as caught:
            channel.send(message())
    assert caught.value.permanent is permanent
    assert caught.value.field == "target" and caught.value.value == "channel:webhook"


def test_any_2xx_is_delivered() -> None:
    with Receiver(SECRET, [Reply(201), Reply(202), Reply(204, body=b"")]) as receiver:
        channel = WebhookChannel(settings(receiver.url))
        for _ in range(3):
            channel.send(message())  # no exception: delivered
    assert [r.status for r in receiver.requests] == [201, 202, 204]


def test_a_redirect_is_not_followed_and_is_retried() -> None:
    moved = Reply(302, headers=(("Location", "http://127.0.0.1:1/elsewhere"),))
    with Receiver(SECRET, [moved]) as receiver:
        channel = WebhookChannel(settings(receiver.url))
        with pytest.raises(DeliveryFailed, match="redirects are not followed") as caught:
            channel.send(message())
    assert not caught.value.permanent
    assert "http://127.0.0.1:1/elsewhere" in str(caught.value)
    assert len(receiver.requests) == 1  # no second request, no GET without the body


def test_a_sender_clock_outside_the_tolerance_is_refused_by_the_receiver() -> None:
    with Receiver(SECRET) as receiver:
        stale = time.time() - 3600
        channel = WebhookChannel(settings(receiver.url), unix_time=lambda: stale)
        with pytest.raises(DeliveryFailed, match="HTTP 401 .*s old") as caught:
            channel.send(message())
        (request,) = receiver.requests
    assert caught.value.permanent
    assert request.header(TIMESTAMP_HEADER) == str(int(stale))
    # The signature itself is good: it verifies at the time it claims.
    verify(SECRET, dict(request.headers), request.body, now=datetime.fromtimestamp(stale, UTC))


def test_every_attempt_is_signed_with_its_own_timestamp() -> None:
    times = iter([1_800_000_000.0, 1_800_000_030.5])
    channel = WebhookChannel(settings("https://gw.example.cn/in"), unix_time=lambda: next(times))
    first, second = channel.request(message()), channel.request(message())
    assert first.data == second.data  # the same body, the same key
    assert first.get_header(TIMESTAMP_HEADER.capitalize()) == "1800000000"
    assert second.get_header(TIMESTAMP_HEADER.capitalize()) == "1800000030"
    assert first.get_header(SIGNATURE_HEADER.capitalize()) != second.get_header(
        SIGNATURE_HEADER.capitalize()
    )
