"""propcare-webhook: the ``webhook`` notification channel.

Each rendered notification is POSTed as UTF-8 JSON to the URL of a gateway the
company already runs (SMS, WeChat template messages), signed with HMAC-SHA256::

    config = {"channels": {"webhook": {"url": "https://gw.example.cn/propcare",
                                       "secret": "...", "timeout": 10}}}
    Propcare.open(url, config=config)

Receivers check a request with :func:`verify`; with ``"signature": "standard-webhooks"``
(and a ``whsec_...`` secret) it carries Standard Webhooks headers instead, which any
Standard Webhooks library checks. Installing the distribution
registers this module under the entry-point group ``propcare`` as ``webhook``.
"""

from __future__ import annotations

from propcare import NotificationChannel, hookimpl
from propcare_webhook.channel import (
    CHANNEL_NAME,
    DEFAULT_TIMEOUT,
    RETRIED_CLIENT_ERRORS,
    SIGNATURES,
    WebhookChannel,
    WebhookSettings,
    encode_message,
    webhook_id,
)
from propcare_webhook.signature import (
    DEFAULT_TOLERANCE,
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    STANDARD_SECRET_PREFIX,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    HeaderSource,
    SignatureInvalid,
    sign,
    signed_content,
    standard_key,
    standard_signature,
    verify,
)

__all__ = [
    "CHANNEL_NAME",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TOLERANCE",
    "IDEMPOTENCY_HEADER",
    "RETRIED_CLIENT_ERRORS",
    "SIGNATURES",
    "SIGNATURE_HEADER",
    "STANDARD_SECRET_PREFIX",
    "TIMESTAMP_HEADER",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "HeaderSource",
    "SignatureInvalid",
    "WebhookChannel",
    "WebhookSettings",
    "encode_message",
    "propcare_notification_channels",
    "sign",
    "signed_content",
    "standard_key",
    "standard_signature",
    "verify",
    "webhook_id",
]

__version__ = "0.1.0"


@hookimpl
def propcare_notification_channels() -> list[NotificationChannel]:
    return [
        NotificationChannel(
            name=CHANNEL_NAME,
            create=WebhookChannel,
            description="POSTs each notification as signed JSON to a company's own gateway",
        )
    ]
