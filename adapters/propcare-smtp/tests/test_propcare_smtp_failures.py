"""How each way an SMTP delivery fails reaches the outbox: temporary (retried) or permanent.

The channel is called directly here, against a real aiosmtpd server, so each test
can look at the exception itself; test_propcare_smtp_delivery.py shows the outbox
acting on it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from propcare_smtp import SmtpChannel, SmtpDeliveryFailed
from propcare_smtp_testkit import (
    OWNER,
    Credentials,
    Recorder,
    email_settings,
    free_port,
    make_pki,
    silent_server,
    smtp_server,
)

from propcare import OutboundMessage, Recipient

# aiosmtpd warns when it requires AUTH without TLS; these tests do it on purpose.
NO_TLS_WARNING = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def outbound(to: Recipient = OWNER) -> OutboundMessage:
    return OutboundMessage(
        idempotency_key="notify:1:water/channel:email",
        channel="email",
        estate_id=None,
        recipient=to,
        subject="【翠苑小区】停水通知",
        body="尊敬的张三：明日停水。",
        locale="zh-CN",
        template="notice",
        created_at=datetime(2026, 11, 2, 1, 0, tzinfo=UTC),
    )


def channel(port: int, **more: Any) -> SmtpChannel:
    return SmtpChannel.from_settings(email_settings(port, **more))


def failure(ch: SmtpChannel, to: Recipient = OWNER) -> SmtpDeliveryFailed:
    with pytest.raises(SmtpDeliveryFailed) as caught:
        ch.send(outbound(to))
    return caught.value


@pytest.mark.parametrize(
    ("replies", "step", "code", "permanent"),
    [
        ({"mail_reply": "553 5.7.1 sender not allowed"}, "MAIL FROM", 553, True),
        ({"mail_reply": "451 4.3.2 system not accepting mail"}, "MAIL FROM", 451, False),
        ({"rcpt_reply": "550 5.1.1 no such user"}, "RCPT TO", 550, True),
        ({"rcpt_reply": "452 4.2.2 mailbox full"}, "RCPT TO", 452, False),
        ({"data_replies": ("554 5.6.0 message content rejected",)}, "DATA", 554, True),
        ({"data_replies": ("451 4.3.0 local error in processing",)}, "DATA", 451, False),
        ({"data_replies": ("421 4.3.2 shutting down",)}, "DATA", 421, False),
    ],
)
def test_reply_codes_decide_between_retry_and_give_up(
    replies: dict[str, Any], step: str, code: int, permanent: bool
) -> None:
    handler = Recorder(**replies)
    with smtp_server(handler) as port:
        error = failure(channel(port))
    assert (error.step, error.code, error.permanent) == (step, code, permanent)
    words = next(iter(replies.values()))
    words = words[0] if isinstance(words, tuple) else words
    # The recorded reason carries the server's code and words.
    assert f"answered {code} to {step}" in str(error)
    assert words.split(" ", 1)[1] in str(error)
    assert error.value == "channel:email"
    assert handler.delivered == []


def test_an_address_the_server_quotes_back_is_masked_in_the_reason() -> None:
    handler = Recorder(rcpt_reply="550 5.1.1 <ZHANG.SAN@example.com>: Recipient address rejected")
    with smtp_server(handler) as port:
        error = failure(channel(port))
    assert error.permanent
    assert "zhang.san" not in str(error).lower()
    assert str(error).count("z***@example.com") == 2  # ours, and the server's echo


def test_wrong_password_is_a_permanent_535_and_no_mail_is_attempted() -> None:
    handler, credentials = Recorder(), Credentials("wuye", "right")
    with smtp_server(handler, authenticator=credentials, auth_require_tls=False) as port:
        error = failure(channel(port, username="wuye", password="wrong"))
    assert (error.step, error.code, error.permanent) == ("AUTH", 535, True)
    assert "wrong" not in str(error)
    assert credentials.attempts and not credentials.attempts[0][2]
    assert handler.mail_commands == 0


@NO_TLS_WARNING
def test_login_over_plain_text_is_allowed_on_loopback() -> None:
    handler, credentials = Recorder(), Credentials("wuye", "right")
    with smtp_server(
        handler, authenticator=credentials, auth_require_tls=False, auth_required=True
    ) as port:
        channel(port, username="wuye", password="right").send(outbound())
    assert [(login, ok) for _, login, ok in credentials.attempts] == [("wuye", True)]
    assert credentials.attempts[0][0] in {"PLAIN", "LOGIN"}
    (got,) = handler.delivered
    assert got.authenticated and not got.tls


@NO_TLS_WARNING
def test_a_server_that_wants_a_login_we_do_not_have_refuses_for_good() -> None:
    handler = Recorder()
    with smtp_server(
        handler, authenticator=Credentials("a", "b"), auth_required=True, auth_require_tls=False
    ) as port:
        error = failure(channel(port))
    assert (error.step, error.code, error.permanent) == ("MAIL FROM", 530, True)


def test_connection_refused_is_temporary() -> None:
    error = failure(channel(free_port()))
    assert (error.step, error.code, error.permanent) == ("connect", None, False)
    assert "Connection refused" in str(error) or "refused" in str(error).lower()


def test_a_server_that_never_answers_times_out_as_temporary() -> None:
    with silent_server() as port:
        started = time.monotonic()
        error = failure(channel(port, timeout_seconds=0.3))
        elapsed = time.monotonic() - started
    assert not error.permanent
    assert error.step == "connect"
    assert elapsed < 3
    assert "timed out" in str(error) or "did not answer" in str(error)


def test_starttls_missing_from_the_server_is_never_a_fallback_to_clear_text(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path)
    handler = Recorder()
    with smtp_server(handler) as port:  # no tls_context: STARTTLS is not offered
        error = failure(channel(port, security="starttls", ca_file=str(pki.ca_file)))
    assert (error.step, error.permanent) == ("STARTTLS", False)
    assert "does not offer STARTTLS" in str(error)
    assert handler.mail_commands == 0


def test_a_certificate_from_an_unknown_ca_is_refused_and_retried_later(tmp_path: Path) -> None:
    server_pki, other_pki = make_pki(tmp_path / "server"), make_pki(tmp_path / "other", "other")
    handler = Recorder()
    with smtp_server(handler, tls_context=server_pki.server_context()) as port:
        error = failure(channel(port, security="starttls", ca_file=str(other_pki.ca_file)))
    assert (error.step, error.permanent) == ("STARTTLS", False)
    assert "not trusted" in str(error)
    assert handler.mail_commands == 0


def test_implicit_tls_checks_the_certificate_too(tmp_path: Path) -> None:
    server_pki, other_pki = make_pki(tmp_path / "server"), make_pki(tmp_path / "other", "other")
    handler = Recorder()
    with smtp_server(handler, ssl_context=server_pki.server_context()) as port:
        error = failure(channel(port, security="ssl", ca_file=str(other_pki.ca_file)))
    assert (error.step, error.permanent) == ("connect", False)
    assert "not trusted" in str(error)
    assert handler.received == []


def test_the_system_store_does_not_trust_a_private_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    handler = Recorder()
    with smtp_server(handler, tls_context=pki.server_context()) as port:
        error = failure(channel(port, security="starttls"))  # no ca_file: verification on
    assert "not trusted" in str(error)
    assert handler.received == []


def test_verify_false_on_loopback_accepts_a_throwaway_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    handler = Recorder()
    with smtp_server(handler, tls_context=pki.server_context(), require_starttls=True) as port:
        channel(port, security="starttls", verify=False).send(outbound())
    (got,) = handler.delivered
    assert got.tls


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("13812345678", "138****5678"),  # a phone number queued on the wrong channel
        ("张三@example.com", "张***@example.com"),  # a non-ASCII local part needs SMTPUTF8
        ("zhang.san@", "z***@"),
    ],
)
def test_an_address_that_is_not_e_mail_fails_for_good_without_connecting(
    address: str, masked: str
) -> None:
    assert Recipient("张三", address).masked == masked
    # Nothing listens on the port: trying to connect would be a temporary failure.
    error = failure(channel(free_port()), Recipient("张三", address))
    assert (error.step, error.permanent) == ("message", True)
    assert masked in str(error) and address not in str(error)


def test_an_internationalised_domain_goes_out_in_ascii_form() -> None:
    handler = Recorder()
    with smtp_server(handler, enable_SMTPUTF8=False) as port:
        ch = channel(port, from_address="wuye@物业.中国")
        ch.send(outbound(Recipient("张三", "zhang@例子.中国")))
    (got,) = handler.delivered
    assert got.rcpt_tos == ("zhang@xn--fsqu00a.xn--fiqs8s",)
    assert got.mail_from == "wuye@" + "物业.中国".encode("idna").decode()
    mail = got.parsed()
    assert mail["To"].addresses[0].addr_spec == "zhang@xn--fsqu00a.xn--fiqs8s"
    assert mail["From"].addresses[0].addr_spec == got.mail_from
    assert mail["Message-ID"].endswith("@" + "物业.中国".encode("idna").decode() + ">")
    assert got.content.isascii()


def test_quit_is_sent_after_a_delivery() -> None:
    quits: list[str] = []

    class QuitRecorder(Recorder):
        async def handle_QUIT(self, *args: object) -> str:
            quits.append("QUIT")
            return "221 bye"

    handler = QuitRecorder()
    with smtp_server(handler) as port:
        channel(port).send(outbound())
        channel(port).send(outbound())
    assert len(handler.delivered) == 2
    assert quits == ["QUIT", "QUIT"]
