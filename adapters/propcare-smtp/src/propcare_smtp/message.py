"""The MIME message one rendered notification becomes.

Everything in it is derived from the :class:`~propcare.OutboundMessage` and the
settings, nothing from the moment of sending: a retry of the same delivery sends
the same bytes, so a receiver (or a person) can tell a repeat by its Message-ID; and
a message that differs in anything, from another installation too, has another
Message-ID (see :func:`message_id_for`).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from propcare import OutboundMessage
from propcare_smtp.settings import SmtpSettings, ascii_address

__all__ = ["build_message", "header_text", "message_id_for"]

# Every character str.splitlines() breaks at, and the other C0/C1 controls: the email
# package refuses a header value with a line break in it, and none belongs in a subject.
_BREAKS_AND_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")


# Stands in for the Message-ID while the rest of the message is hashed; always the same,
# so it changes nothing in the digest from one build to the next.
_PLACEHOLDER = "<message-id>"


def message_id_for(message: OutboundMessage, settings: SmtpSettings) -> str:
    """``<32 hex digits@message_id_domain>``: the Message-ID :func:`build_message` gives.

    The first 128 bits of the SHA-256 of the delivery's idempotency key, its estate, the
    instant it was queued (to the microsecond, in UTC) and every other byte of the message
    (headers and body: sender, recipient, date, subject, text). So:

    - a retry of the delivery, from any process and after a restart, builds the same
      bytes from the same stored message and settings, and so carries the same id: a mail
      system that drops a repeated Message-ID drops the repeat of a message that did
      arrive, and a person can tell a repeat;
    - two messages that differ in anything (another notice, another installation whose
      estate 1 reuses this one's key, another recipient, sender or text) have different
      ids, so no mail system drops a message as a repeat of another. Two ids agree only
      for the same key and estate, queued at the same microsecond, with the same bytes
      to the same person: the same message, whose repeat loses the reader nothing.

    Hashed rather than copied because a key may hold any text (a caller's key in
    Chinese, slashes, colons) and a Message-ID may not; 128 bits make two messages
    sharing an id as likely as guessing a random UUID.
    """
    return str(build_message(message, settings)["Message-ID"])


def _message_id(message: OutboundMessage, content: bytes, domain: str) -> str:
    fixed = [
        message.idempotency_key,
        message.estate_id,
        message.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
    ]
    digest = hashlib.sha256(
        json.dumps(fixed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        + b"\n"
        + content
    ).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def header_text(text: str) -> str:
    """``text`` on one line for a header: line breaks and controls become one space."""
    return _BREAKS_AND_CONTROLS.sub(" ", text).strip()


def build_message(message: OutboundMessage, settings: SmtpSettings) -> EmailMessage:
    """The e-mail for ``message``; ValueError if the recipient's address is not e-mail."""
    to = ascii_address(message.recipient.address)
    mail = EmailMessage(policy=SMTP)
    # First among the headers; its value, a digest of all the rest, is set at the end.
    mail["Message-ID"] = _PLACEHOLDER
    # The time it was queued, not sent: a retry must not change the message.
    mail["Date"] = format_datetime(message.created_at.astimezone(ZoneInfo(settings.timezone)))
    sender = ascii_address(settings.from_address)
    mail["From"] = Address(
        display_name=header_text(settings.from_name),
        username=sender.username,
        domain=sender.domain,
    )
    mail["To"] = Address(
        display_name=header_text(message.recipient.name), username=to.username, domain=to.domain
    )
    if settings.reply_to is not None:
        reply_to = ascii_address(settings.reply_to)
        mail["Reply-To"] = Address(username=reply_to.username, domain=reply_to.domain)
    # The email package encodes non-ASCII text as RFC 2047 words (=?utf-8?b?...?=).
    mail["Subject"] = header_text(message.subject)
    # RFC 3834: tells vacation responders not to answer a notification.
    mail["Auto-Submitted"] = "auto-generated"
    # base64 rather than 8bit: every server takes it, whether or not it offers 8BITMIME.
    mail.set_content(message.body, subtype="plain", charset="utf-8", cte="base64")
    # After set_content, which clears every Content-* header.
    if _LANGUAGE_TAG.fullmatch(message.locale):
        mail["Content-Language"] = message.locale
    # replace_header keeps the header where it is: first.
    mail.replace_header(
        "Message-ID", _message_id(message, mail.as_bytes(), settings.message_id_domain)
    )
    return mail
