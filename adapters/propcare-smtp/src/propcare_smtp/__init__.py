"""propcare-smtp: the ``email`` notification channel, on the standard library's smtplib.

Installed, it registers under the entry-point group ``propcare`` as ``smtp``; an app
uses it when its configuration names the channel::

    Propcare.open(url, config={"channels": {"email": {
        "host": "smtp.example.com", "security": "starttls",
        "username": "wuye@example.com", "password_env": "PROPCARE_SMTP_PASSWORD",
        "from_address": "wuye@example.com", "from_name": "翠苑物业服务中心",
    }}})

See README.md for every setting and for how failures reach the outbox.
"""

from __future__ import annotations

from propcare import NotificationChannel, hookimpl
from propcare_smtp.channel import CHANNEL_NAME, TARGET, SmtpChannel, SmtpDeliveryFailed
from propcare_smtp.message import build_message, header_text, message_id_for
from propcare_smtp.settings import DEFAULT_PORTS, KEYS, SECURITY_MODES, SmtpSettings

__all__ = [
    "CHANNEL_NAME",
    "DEFAULT_PORTS",
    "KEYS",
    "SECURITY_MODES",
    "TARGET",
    "SmtpChannel",
    "SmtpDeliveryFailed",
    "SmtpSettings",
    "build_message",
    "header_text",
    "message_id_for",
    "propcare_notification_channels",
]


@hookimpl
def propcare_notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel(
            name=CHANNEL_NAME,
            create=SmtpChannel.from_settings,
            description="e-mail through an SMTP server (plain, STARTTLS or SSL; smtplib)",
        )
    ]
