"""``"signature": "standard-webhooks"``: requests a Standard Webhooks library accepts.

Checked with ``standardwebhooks``, the specification's own Python library: its ``verify``
is the receiver, its ``sign`` the reference signature.
"""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import propcare_webhook
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from propcare_webhook import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WebhookChannel,
    standard_signature,
    webhook_id,
)
from propcare_webhook_receiver import Receiver, Reply
from standardwebhooks import Webhook, WebhookVerificationError

from propcare import (
    Actor,
    ConfigError,
    DeliveryFailed,
    FixedClock,
    OutboundMessage,
    Propcare,
    Recipient,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)
# What a Standard Webhooks sender hands its receivers: whsec_ and a random key in base64.
SECRET = "whsec_" + base64.b64encode(bytes(range(7, 39))).decode()
OWNER = Recipient("张三", "13812345678")
PARAMS = {"estate": "翠苑", "title": "停水通知", "name": "张三", "body": "明日9:00-12:00停水。"}
ADMIN = Actor.system()


def standard(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "secret": SECRET, "timeout": 2, "signature": "standard-webhooks", **extra}


def message(key: str = "notify:1:k/channel:webhook", at: datetime = T0) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key=key,
        channel="webhook",
        estate_id=1,
        recipient=OWNER,
        subject="【翠苑】停水通知",
        body="尊敬的张三：明日停水。",
        locale="zh-CN",
        template="notice",
        created_at=at,
    )


def header(request: Any, name: str) -> str | None:
    value = request.get_header(name.capitalize())
    return None if value is None else str(value)


# --- the signature -------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    body=st.binary(max_size=2048),
    key=st.binary(min_size=24, max_size=64),
    msg_id=st.text(st.characters(codec="ascii", exclude_characters="\r\n"), max_size=60),
    timestamp=st.integers(0, 10**11),
)
def test_the_signature_is_the_one_the_standardwebhooks_library_computes(
    body: bytes, key: bytes, msg_id: str, timestamp: int
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    reference = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)
    assert standard_signature(secret, msg_id, timestamp, body) == reference


def test_a_request_verifies_with_the_library_and_is_refused_when_changed() -> None:
    now = time.time()
    channel = WebhookChannel(standard("https://gw.example.cn/in"), unix_time=lambda: now)
    request = channel.request(message())
    headers = dict(request.header_items())
    body = request.data
    assert isinstance(body, bytes)
    assert Webhook(SECRET).verify(body, headers)["idempotency_key"] == message().idempotency_key
    # Not the propcare scheme's headers: one scheme per channel.
    assert header(request, TIMESTAMP_HEADER) is None and header(request, SIGNATURE_HEADER) is None
    assert header(request, IDEMPOTENCY_HEADER) == message().idempotency_key  # unsigned, as ever
    other = "whsec_" + base64.b64encode(b"another key of 24+ bytes!").decode()
    for secret, sent in [(SECRET, body.replace("张三".encode(), "李四".encode())), (other, body)]:
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(sent, headers)
    stale = WebhookChannel(standard("https://gw.example.cn/in"), unix_time=lambda: now - 3600)
    old = stale.request(message())
    assert isinstance(old.data, bytes)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(old.data, dict(old.header_items()))


def test_the_webhook_id_is_fixed_by_the_delivery_and_unique_across_installations() -> None:
    times = iter([1_800_000_000.0, 1_800_000_030.0])
    channel = WebhookChannel(standard("https://gw.example.cn/in"), unix_time=lambda: next(times))
    first, second = channel.request(message()), channel.request(message())
    # A retry: the same id and body, its own timestamp and signature.
    assert header(first, WEBHOOK_ID_HEADER) == header(second, WEBHOOK_ID_HEADER)
    assert header(first, WEBHOOK_ID_HEADER) == webhook_id(message())
    assert (header(first, WEBHOOK_TIMESTAMP_HEADER), header(second, WEBHOOK_TIMESTAMP_HEADER)) == (
        "1800000000",
        "1800000030",
    )
    assert header(first, WEBHOOK_SIGNATURE_HEADER) != header(second, WEBHOOK_SIGNATURE_HEADER)
    assert webhook_id(message()).startswith("msg_") and len(webhook_id(message())) == 36
    # Another key, or the same key and estate queued by another installation: other ids.
    assert webhook_id(message("notify:1:other/channel:webhook")) != webhook_id(message())
    there = message(at=T0 + timedelta(microseconds=1))
    assert webhook_id(there) != webhook_id(message())
    # Queued at the same instant (quiet hours ending at the same minute, or one not_before)
    # for an estate of another name, to another person or in other words: other ids.
    for changed in (
        {"subject": "【兰亭】停水通知"},
        {"recipient": Recipient("张三", "13912345678")},
        {"body": "尊敬的张三：后日停水。"},
    ):
        assert webhook_id(attrs.evolve(message(), **changed)) != webhook_id(message())
    assert webhook_id(attrs.evolve(message(), created_at=T0.astimezone(UTC))) == webhook_id(
        message()
    )


# --- end to end ------------------------------------------------------------------------------


def test_a_notification_reaches_a_standard_webhooks_receiver_and_a_retry_keeps_its_id() -> None:
    clock = FixedClock(T0)
    replies = [Reply(503, body=b"busy"), Reply(200)]
    with Receiver(SECRET, replies, signature="standard-webhooks") as receiver:
        with Propcare.open(
            "sqlite://:memory:",
            plugins=[propcare_webhook],
            load_entrypoints=False,
            clock=clock,
            config={"channels": {"webhook": standard(receiver.url)}},
        ) as app:
            estate = app.estates.create(ADMIN, "翠苑")
            app.notify.send(ADMIN, estate.id, "webhook", OWNER, "notice", PARAMS, key="outage-7")
            app.dispatch_idle()
            clock.advance(app.dispatcher.backoff.delay(1))
            assert app.dispatch().delivered == 1
        requests = receiver.requests
    assert [(r.status, r.rejection) for r in requests] == [(503, None), (200, None)]
    ids = {r.header(WEBHOOK_ID_HEADER) for r in requests}
    assert len(ids) == 1 and ids != {None}
    assert requests[0].body == requests[1].body
    assert requests[1].document()["body"] == "尊敬的张三：明日9:00-12:00停水。"


def test_two_installations_sending_estate_1_the_same_key_send_two_webhook_ids() -> None:
    """Two databases (each with its estate 1) queue "outage-7" for the same owner: at two
    instants, or at one instant for estates of other names. The receiver, which dedupes
    on webhook-id, sees three messages, not one."""
    with Receiver(SECRET, signature="standard-webhooks") as receiver:
        for at, estate in ((T0, "翠苑"), (T0 + timedelta(seconds=3), "翠苑"), (T0, "兰亭")):
            with Propcare.open(
                "sqlite://:memory:",
                plugins=[propcare_webhook],
                load_entrypoints=False,
                clock=FixedClock(at),
                config={"channels": {"webhook": standard(receiver.url)}},
            ) as app:
                made = app.estates.create(ADMIN, estate)
                assert made.id == 1
                params = {**PARAMS, "estate": estate}
                app.notify.send(ADMIN, made.id, "webhook", OWNER, "notice", params, key="outage-7")
                app.dispatch_idle()
        requests = receiver.requests
    assert [r.status for r in requests] == [200, 200, 200]
    assert len({r.header(WEBHOOK_ID_HEADER) for r in requests}) == 3
    # The idempotency key in the body is the same in all three: it is not unique across
    # installations, webhook-id is.
    assert len({r.document()["idempotency_key"] for r in requests}) == 1


def test_a_receiver_with_another_secret_refuses_it_for_good() -> None:
    other = "whsec_" + base64.b64encode(b"not the sender's key, 32 bytes!!").decode()
    with Receiver(other, signature="standard-webhooks") as receiver:
        channel = WebhookChannel(standard(receiver.url))
        with pytest.raises(DeliveryFailed, match="HTTP 401") as caught:
            channel.send(message())
    assert caught.value.permanent


# --- settings --------------------------------------------------------------------------------


def test_the_propcare_scheme_stays_the_default() -> None:
    channel = WebhookChannel({"url": "https://gw.example.cn/in", "secret": "k"})
    assert channel.settings.signature == "propcare"
    request = channel.request(message())
    assert header(request, SIGNATURE_HEADER) is not None
    assert header(request, WEBHOOK_SIGNATURE_HEADER) is None


@pytest.mark.parametrize(
    ("changes", "field", "rule"),
    [
        ({"signature": "stripe"}, "signature", "must be one of propcare, standard-webhooks"),
        ({"secret": "plain-text-secret"}, "secret", "must be a Standard Webhooks secret"),
        ({"secret": "whsec_not*base64!"}, "secret", "must be a Standard Webhooks secret"),
        ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, "secret", "24 to 64"),
        ({"secret": "whsec_" + base64.b64encode(bytes(65)).decode()}, "secret", "24 to 64"),
    ],
)
def test_a_bad_standard_webhooks_setting_is_named_and_the_secret_never_shown(
    changes: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(ConfigError, match=rule) as caught:
        WebhookChannel(standard("https://gw.example.cn/in", **changes))
    assert caught.value.field == f"channels.webhook.{field}"
    assert str(changes.get("secret", "<none>")) not in str(caught.value)


def test_an_unpadded_secret_is_taken_as_the_libraries_take_it() -> None:
    unpadded = SECRET.rstrip("=")
    assert unpadded != SECRET
    now = time.time()
    request = WebhookChannel(
        standard("https://gw.example.cn/in", secret=unpadded), unix_time=lambda: now
    ).request(message())
    assert isinstance(request.data, bytes)
    Webhook(SECRET).verify(request.data, dict(request.header_items()))
