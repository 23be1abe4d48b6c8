"""The ``email`` channel: one SMTP session per message, on the standard library's smtplib.

A failure becomes :class:`SmtpDeliveryFailed`, which propcare's dispatcher reads:

- no answer (refused, timed out, dropped), a 4xx reply, or trouble before the mail
  transaction (greeting, EHLO, STARTTLS, an untrusted certificate): temporary, so
  the outbox retries with backoff;
- a 5xx reply to AUTH, MAIL FROM, RCPT TO or DATA, or an address that is not
  e-mail: permanent, recorded as failed with the server's code and words.

Addresses in logs and in recorded reasons are masked (``z***@example.com``), also
where the server's reply repeats the address.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Mapping
from typing import Any, Final

from propcare import DeliveryFailed, OutboundMessage, Recipient
from propcare_smtp.message import build_message
from propcare_smtp.settings import SmtpSettings, ascii_address

__all__ = ["CHANNEL_NAME", "TARGET", "SmtpChannel", "SmtpDeliveryFailed"]

log = logging.getLogger("propcare_smtp")

CHANNEL_NAME: Final = "email"
TARGET: Final = f"channel:{CHANNEL_NAME}"

# Replies to these steps are about this message (its sender, its recipient, its
# content) or about our credentials: a 5xx there will not change on a retry.
_FINAL_STEPS: Final = frozenset({"AUTH", "MAIL FROM", "RCPT TO", "DATA"})
_REASON_LIMIT: Final = 300


class SmtpDeliveryFailed(DeliveryFailed):
    """:class:`~propcare.DeliveryFailed` with the SMTP detail.

    ``step`` is where it failed (``connect``, ``EHLO``, ``STARTTLS``, ``AUTH``,
    ``MAIL FROM``, ``RCPT TO``, ``DATA``, ``message``); ``code`` is the server's
    reply code, or None when there was no reply.
    """

    def __init__(
        self, reason: str, *, step: str, code: int | None = None, permanent: bool = False
    ) -> None:
        super().__init__(TARGET, reason, permanent=permanent)
        self.step = step
        self.code = code


class SmtpChannel:
    """Sends each :class:`~propcare.OutboundMessage` as one e-mail.

    Holds no connection between messages: the dispatcher sends rarely and in
    batches, and a fresh session never trips over one the server closed while idle.
    Safe to call from several threads.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        # Built now so a bad ca_file is a ConfigError when the app opens.
        self._tls = None if settings.security == "plain" else settings.ssl_context()

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> SmtpChannel:
        """The ``create`` of the ``email`` record: settings from ``config["channels"]``."""
        return cls(SmtpSettings.from_mapping(settings))

    @property
    def server(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def send(self, message: OutboundMessage) -> None:
        recipient = message.recipient
        try:
            mail = build_message(message, self.settings)
        except ValueError as exc:
            raise SmtpDeliveryFailed(
                f"the recipient address {recipient.masked} is {exc}", step="message", permanent=True
            ) from None
        session = self._open(recipient)
        try:
            session.send_message(
                mail,
                from_addr=ascii_address(self.settings.from_address).addr_spec,
                to_addrs=[ascii_address(recipient.address).addr_spec],
            )
        except (smtplib.SMTPException, OSError) as exc:
            raise self._failure(exc, "message", recipient) from exc
        finally:
            # Once DATA is accepted the message is sent; a QUIT that fails must not
            # turn that into a failure (the retry would be a second copy).
            _close(session)
        log.info(
            "sent %s to %s through %s as %s",
            message.idempotency_key,
            recipient.masked,
            self.server,
            mail["Message-ID"],
        )

    def _open(self, recipient: Recipient) -> smtplib.SMTP:
        """A session ready for MAIL FROM: connected, greeted, encrypted, logged in."""
        s = self.settings
        session: smtplib.SMTP | None = None
        step = "connect"
        try:
            if s.security == "ssl":
                session = smtplib.SMTP_SSL(
                    s.host,
                    s.port,
                    local_hostname=s.local_hostname,
                    timeout=s.timeout_seconds,
                    context=self._tls,
                )
            else:
                session = smtplib.SMTP(
                    s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout_seconds
                )
            step = "EHLO"
            session.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                step = "STARTTLS"
                if not session.has_extn("starttls"):
                    # Never fall back to clear text: a stripped STARTTLS may be an attack.
                    raise SmtpDeliveryFailed(
                        f"{self.server} does not offer STARTTLS; not sending in clear text",
                        step=step,
                    )
                session.starttls(context=self._tls)
                step = "EHLO"
                session.ehlo_or_helo_if_needed()
            if s.login is not None:
                step = "AUTH"
                session.login(*s.login)
        except SmtpDeliveryFailed:
            _close(session)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            _close(session)
            raise self._failure(exc, step, recipient) from exc
        return session

    def _failure(self, exc: Exception, step: str, recipient: Recipient) -> SmtpDeliveryFailed:
        """What ``exc`` means for the outbox: temporary or permanent, and why."""
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(exc.recipients.values()), (None, b""))
            return self._reply("RCPT TO", code, text, recipient)
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return self._reply("MAIL FROM", exc.smtp_code, exc.smtp_error, recipient)
        if isinstance(exc, smtplib.SMTPDataError):
            return self._reply("DATA", exc.smtp_code, exc.smtp_error, recipient)
        if isinstance(exc, smtplib.SMTPResponseException):  # AUTH, greeting, EHLO, STARTTLS
            if step == "connect":
                step = "greeting"
            return self._reply(step, exc.smtp_code, exc.smtp_error, recipient)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return SmtpDeliveryFailed(
                f"the TLS certificate of {self.server} is not trusted ({exc.verify_message}); "
                "if it is a private CA, give it as ca_file",
                step=step,
            )
        if isinstance(exc, TimeoutError):
            return SmtpDeliveryFailed(
                f"{self.server} did not answer within {self.settings.timeout_seconds:g} s ({step})",
                step=step,
            )
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return SmtpDeliveryFailed(
                f"{self.server} closed the connection ({step}): {exc}", step=step
            )
        return SmtpDeliveryFailed(
            f"cannot talk to {self.server} ({step}): {type(exc).__name__}: {exc}", step=step
        )

    def _reply(
        self, step: str, code: int | None, text: bytes | str, recipient: Recipient
    ) -> SmtpDeliveryFailed:
        permanent = step in _FINAL_STEPS and code is not None and 500 <= code <= 599
        return SmtpDeliveryFailed(
            f"{self.server} answered {code} to {step} for {recipient.masked}: "
            f"{_server_words(text, recipient)}",
            step=step,
            code=code,
            permanent=permanent,
        )


def _server_words(text: bytes | str, recipient: Recipient) -> str:
    """The server's reply on one line, shortened, with the recipient's address masked."""
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    # Servers like to quote the address back ("<zhang@example.com>: no such user").
    words = re.sub(re.escape(recipient.address), recipient.masked, words, flags=re.IGNORECASE)
    words = " ".join(words.split())
    return words if len(words) <= _REASON_LIMIT else words[: _REASON_LIMIT - 1] + "…"


def _close(session: smtplib.SMTP | None) -> None:
    if session is None:
        return
    try:
        session.quit()
    except (smtplib.SMTPException, OSError):
        session.close()
