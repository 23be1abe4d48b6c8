"""End to end: app.notify.send -> outbox -> dispatcher -> email channel -> a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import propcare_smtp
import pytest
from propcare_smtp import SmtpSettings, message_id_for
from propcare_smtp_testkit import (
    BODY,
    FROM,
    OWNER,
    PARAMS,
    SUBJECT,
    T0,
    Credentials,
    Recorder,
    deliveries,
    email_settings,
    free_port,
    make_pki,
    normalised,
    notify_owner,
    open_app,
    smtp_server,
)

from propcare import ConfigError, FixedClock, OutboundMessage, Propcare


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


def test_installed_adapter_is_found_by_entry_point_and_mails_the_zh_cn_notice(
    clock: FixedClock,
) -> None:
    handler = Recorder()
    with smtp_server(handler) as port, open_app(email_settings(port), clock) as app:
        providers = [p.plugin for p in app.host.notification_channels() if p.record.name == "email"]
        message_id = notify_owner(app, key="water-2026-11-03")
        assert [(d.status, d.attempts) for d in deliveries(app)] == [("delivered", 1)]
        with app.unit_of_work(readonly=True) as uow:
            (stored,) = [m for m in uow.outbox.messages() if m.id == message_id]
    assert providers == ["smtp"]  # the entry point's name in pyproject.toml
    assert len(handler.received) == 1
    got = handler.received[0]
    assert got.mail_from == FROM
    assert got.rcpt_tos == (OWNER.address,)
    assert not got.tls and not got.authenticated  # security "plain", no login
    mail = got.parsed()
    assert str(mail["Subject"]) == SUBJECT
    assert normalised(mail.get_content()) == BODY + "\n"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    # Encoded as RFC 2047 words by the email package, not sent as raw UTF-8.
    raw_headers = got.content.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()
    assert b"Subject: =?utf-8?" in raw_headers
    (to,) = mail["To"].addresses
    assert (to.display_name, to.addr_spec) == ("张三", "zhang.san@example.com")
    (sender,) = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("翠苑物业服务中心", FROM)
    key = f"{stored.key}/channel:email"
    assert stored.key.endswith(":water-2026-11-03")
    # Fixed by the stored delivery: its key, estate and queue instant, and the message.
    delivered = OutboundMessage(
        key, "email", stored.estate_id, OWNER, SUBJECT, BODY, "zh-CN", "notice", T0
    )
    assert mail["Message-ID"] == message_id_for(
        delivered, SmtpSettings.from_mapping(email_settings(port))
    )
    assert mail["Message-ID"].endswith("@cuiyuan.example>")
    assert parsedate_to_datetime(mail["Date"]) == T0
    assert mail["Date"] == format_datetime(T0)  # Asia/Shanghai: +0800
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Content-Language"] == "zh-CN"


def test_plugin_module_passed_in_code_works_without_entry_points(clock: FixedClock) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        with pytest.raises(ConfigError, match="email"):
            open_app(email_settings(port), clock, load_entrypoints=False)
        with open_app(
            email_settings(port), clock, plugins=(propcare_smtp,), load_entrypoints=False
        ) as app:
            notify_owner(app)
            assert [d.status for d in deliveries(app)] == ["delivered"]
    assert [str(r.parsed()["Subject"]) for r in handler.delivered] == [SUBJECT]


def test_starttls_with_a_login_delivers_over_tls_as_the_logged_in_user(
    clock: FixedClock, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    handler, credentials = Recorder(), Credentials("wuye", "s3cret-Pa55")
    settings = email_settings(
        0,
        security="starttls",
        ca_file=str(pki.ca_file),
        username="wuye",
        password="s3cret-Pa55",
    )
    with (
        smtp_server(
            handler,
            tls_context=pki.server_context(),
            require_starttls=True,
            authenticator=credentials,
            auth_required=True,
        ) as port,
        open_app({**settings, "port": port}, clock) as app,
    ):
        notify_owner(app)
        assert [d.status for d in deliveries(app)] == ["delivered"]
    assert [(login, ok) for _, login, ok in credentials.attempts] == [("wuye", True)]
    (got,) = handler.received
    assert got.tls and got.authenticated
    assert str(got.parsed()["Subject"]) == SUBJECT


def test_implicit_tls_on_connect_delivers(clock: FixedClock, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    handler = Recorder()
    with smtp_server(handler, ssl_context=pki.server_context()) as port:
        settings = email_settings(port, security="ssl", ca_file=str(pki.ca_file))
        with open_app(settings, clock) as app:
            notify_owner(app)
            assert [d.status for d in deliveries(app)] == ["delivered"]
    (got,) = handler.received
    assert got.tls
    assert normalised(got.parsed().get_content()) == BODY + "\n"


def test_server_down_at_first_is_retried_with_backoff_and_delivered_once(
    clock: FixedClock,
) -> None:
    port = free_port()  # nothing listens here yet
    handler = Recorder()
    with open_app(email_settings(port), clock) as app:
        notify_owner(app)  # dispatched at once after commit: connection refused
        (first,) = deliveries(app)
        assert (first.status, first.attempts) == ("pending", 1)
        assert first.last_error is not None and "connect" in first.last_error
        with smtp_server(handler, port=port):
            # Back up, but the retry is not due yet (base backoff 30 s): nothing is sent.
            assert app.dispatch().delivered == 0
            assert handler.received == []
            clock.advance(seconds=29)
            assert app.dispatch().delivered == 0
            clock.advance(seconds=2)
            report = app.dispatch()
            assert (report.delivered, report.retried, report.failed) == (1, 0, 0)
            clock.advance(hours=2)
            assert app.dispatch().delivered == 0
        (after,) = deliveries(app)
    assert (after.status, after.attempts) == ("delivered", 2)
    assert len(handler.received) == 1
    assert str(handler.received[0].parsed()["Subject"]) == SUBJECT


def test_second_failure_waits_twice_as_long(clock: FixedClock) -> None:
    port = free_port()
    with open_app(email_settings(port), clock) as app:
        notify_owner(app)
        clock.advance(seconds=31)
        assert app.dispatch().retried == 1  # still down: next try 60 s later
        handler = Recorder()
        with smtp_server(handler, port=port):
            clock.advance(seconds=59)
            assert app.dispatch().delivered == 0
            clock.advance(seconds=2)
            assert app.dispatch().delivered == 1
        assert [(d.status, d.attempts) for d in deliveries(app)] == [("delivered", 3)]
    assert len(handler.received) == 1


def test_permanent_550_is_recorded_as_failed_with_the_reason_and_not_retried(
    clock: FixedClock,
) -> None:
    handler = Recorder(rcpt_reply="550 5.1.1 <zhang.san@example.com>: no such user")
    with smtp_server(handler) as port, open_app(email_settings(port), clock, auto=False) as app:
        notify_owner(app)
        report = app.dispatch()
        assert (report.delivered, report.retried, report.failed) == (0, 0, 1)
        clock.advance(hours=3)
        assert app.dispatch() == type(report)()  # nothing due: failed for good
        (failed,) = deliveries(app)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error is not None
    assert "550" in failed.last_error and "no such user" in failed.last_error
    assert "RCPT TO" in failed.last_error
    # The server quoted the address back; the record keeps it masked.
    assert "zhang.san@" not in failed.last_error and "z***@example.com" in failed.last_error
    assert handler.rcpt_commands == 1 and handler.received == []


def test_temporary_451_at_rcpt_is_retried_and_then_delivered(clock: FixedClock) -> None:
    handler = Recorder(rcpt_reply="451 4.3.0 greylisted, try again later")
    with smtp_server(handler) as port, open_app(email_settings(port), clock, auto=False) as app:
        notify_owner(app)
        assert app.dispatch().retried == 1
        (pending,) = deliveries(app)
        assert pending.last_error is not None and "451" in pending.last_error
        handler.rcpt_reply = None
        clock.advance(seconds=31)
        assert app.dispatch().delivered == 1
    assert len(handler.delivered) == 1


def test_a_retried_delivery_sends_the_same_message_id_and_the_same_bytes(
    clock: FixedClock,
) -> None:
    # The server reads the whole message, then answers 451: the retry sends it again.
    handler = Recorder(data_replies=("451 4.3.0 queue full",))
    with smtp_server(handler) as port, open_app(email_settings(port), clock) as app:
        notify_owner(app, key="water-2026-11-03")
        assert [d.status for d in deliveries(app)] == ["pending"]
        clock.advance(minutes=1)
        assert app.dispatch().delivered == 1
    first, second = handler.received
    assert (first.accepted, second.accepted) == (False, True)
    assert first.parsed()["Message-ID"] == second.parsed()["Message-ID"]
    assert first.content == second.content  # Date is the queue time, not the send time


def test_two_notices_get_two_message_ids(clock: FixedClock) -> None:
    handler = Recorder()
    with smtp_server(handler) as port, open_app(email_settings(port), clock) as app:
        notify_owner(app, key="one")
        notify_owner(app, key="two")
    ids = [r.parsed()["Message-ID"] for r in handler.delivered]
    assert len(ids) == 2 and ids[0] != ids[1]


def test_two_installations_sending_the_same_estates_notice_use_two_message_ids() -> None:
    """Every installation has an estate 1, and callers reuse their keys: two databases
    queueing "water-2026-11-03" for estate 1, to the same owner through the same sender,
    still send two Message-IDs (RFC 5322 wants them unique), whether they queue it at
    other instants or at the same one (both held back by quiet hours that end at the same
    minute, or given the same ``not_before``) for estates of other names."""
    handler = Recorder()
    with smtp_server(handler) as port:
        for at, estate in ((T0, "翠苑小区"), (T0 + timedelta(seconds=7), "翠苑小区"),
                           (T0, "兰亭小区")):  # fmt: skip
            with open_app(email_settings(port), FixedClock(at)) as app:
                notify_owner(app, key="water-2026-11-03", params={**PARAMS, "estate": estate})
    ids = [mail.parsed()["Message-ID"] for mail in handler.delivered]
    assert len(ids) == 3 and len(set(ids)) == 3


def test_bad_settings_stop_the_app_from_opening(clock: FixedClock) -> None:
    with pytest.raises(ConfigError) as caught:
        Propcare.open(
            "sqlite://:memory:",
            clock=clock,
            config={"channels": {"email": email_settings(70000)}},
        )
    assert caught.value.field == "channels.email.port"
    assert caught.value.value == 70000
