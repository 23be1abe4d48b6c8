"""The MIME message one rendered notification becomes.

Everything in it is derived from the :class:`~propcare.OutboundMessage` and the
settings, nothing from the moment of sending: a retry of the same delivery sends
the same bytes, so a receiver (or a person) can tell a repeat by its Message-ID.
"""

from __future__ import annotations

import hashlib
import re
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


def message_id_for(idempotency_key: str, domain: str) -> str:
    """``<32 hex digits@domain>``, a hash of the key: the same key gives the same id.

    Hashed rather than copied because a key may hold any text (a caller's key in
    Chinese, slashes, colons) and a Message-ID may not; 128 bits make two keys
    sharing an id as likely as guessing a random UUID.
    """
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def header_text(text: str) -> str:
    """``text`` on one line for a header: line breaks and controls become one space."""
    return _BREAKS_AND_CONTROLS.sub(" ", text).strip()


def build_message(message: OutboundMessage, settings: SmtpSettings) -> EmailMessage:
    """The e-mail for ``message``; ValueError if the recipient's address is not e-mail."""
    to = ascii_address(message.recipient.address)
    mail = EmailMessage(policy=SMTP)
    mail["Message-ID"] = message_id_for(message.idempotency_key, settings.message_id_domain)
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
    return mail
