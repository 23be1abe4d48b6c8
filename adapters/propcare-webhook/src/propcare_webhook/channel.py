"""The ``webhook`` channel: each rendered notification POSTed as signed JSON.

For the SMS or WeChat gateway a company already runs: propcare renders the
message, the gateway sends it. The outcome maps onto the outbox's retry rule:
2xx is delivered; a 4xx refusal (bad address, unknown template, bad signature)
fails for good; everything else (5xx, 408, 429, a redirect, a timeout, no
connection) is retried with backoff, with the same idempotency key every time.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import math
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC
from email.message import Message
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from propcare import ConfigError, DeliveryFailed, OutboundMessage
from propcare_webhook.signature import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    sign,
    standard_key,
    standard_signature,
)

__all__ = [
    "CHANNEL_NAME",
    "DEFAULT_TIMEOUT",
    "RETRIED_CLIENT_ERRORS",
    "SIGNATURES",
    "WebhookChannel",
    "WebhookSettings",
    "encode_message",
    "webhook_id",
]

log = logging.getLogger(__name__)

CHANNEL_NAME = "webhook"
DEFAULT_TIMEOUT = 10.0
# 408 and 429 say "not now", not "never": the receiver is busy, so they are retried.
RETRIED_CLIENT_ERRORS = frozenset({408, 429})
# The signature schemes (the ``signature`` setting): propcare's own X-Propcare-* headers
# (the default, what receivers written for earlier releases check), or Standard Webhooks.
SIGNATURES = ("propcare", "standard-webhooks")
_PREFIX = f"channels.{CHANNEL_NAME}."
_SNIPPET = 200  # characters of a refusal's body kept as its reason
_READ_LIMIT = 4096  # bytes read of a refusal's body; a huge error page is not read in full


def _hidden(value: Any) -> Any:
    """A secret as an error may show it: empty values as they are, anything else hidden."""
    return value if value is None or (isinstance(value, str) and not value.strip()) else "<hidden>"


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _check_url(_: object, __: object, value: Any) -> None:
    field = f"{_PREFIX}url"
    rule = "must be the http:// or https:// URL to POST notifications to"
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(field, value, rule)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ConfigError(field, value, "must not contain spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(field, value, rule)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            field,
            _without_credentials(value),
            "must not hold user:password@ (urllib does not send it; the signature "
            "authenticates propcare)",
        )
    if not parts.hostname:
        raise ConfigError(field, value, "must name a host (https://host/path)")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when it is read
    except ValueError:
        raise ConfigError(field, value, "has a port that is not a number 0-65535") from None


def _check_secret(_: object, __: object, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"{_PREFIX}secret",
            _hidden(value),
            "must be a non-empty string shared with the receiver (it keys the HMAC-SHA256)",
        )


def _check_timeout(_: object, __: object, value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(f"{_PREFIX}timeout", value, "must be a number of seconds greater than 0")


def _check_signature(settings: WebhookSettings, _: object, value: Any) -> None:
    if value not in SIGNATURES:
        raise ConfigError(f"{_PREFIX}signature", value, f"must be one of {', '.join(SIGNATURES)}")
    if value == "standard-webhooks":
        # Run after the secret's own check: attrs validates in field order.
        standard_key(settings.secret, f"{_PREFIX}secret")


@attrs.frozen
class WebhookSettings:
    """The channel's checked settings; ``secret`` is kept out of ``repr``."""

    url: str = attrs.field(validator=_check_url)
    secret: str = attrs.field(validator=_check_secret, repr=False)
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_check_timeout)
    signature: str = attrs.field(default="propcare", validator=_check_signature)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WebhookSettings:
        """Build from the ``channels.webhook`` mapping; ConfigError names any bad key."""
        if not isinstance(settings, Mapping):
            raise ConfigError(
                f"channels.{CHANNEL_NAME}", type(settings).__name__, "must be a mapping"
            )
        known = {a.name for a in attrs.fields(cls)}
        # A misspelt key ("timout") would otherwise be ignored and its default used.
        unknown = sorted(str(k) for k in settings if k not in known)
        if unknown:
            raise ConfigError(
                f"channels.{CHANNEL_NAME}",
                unknown,
                f"unknown settings; known: {', '.join(sorted(known))}",
            )
        # Any: the validators, not the annotations, decide what a setting may be.
        url: Any = settings.get("url")
        secret: Any = settings.get("secret")
        timeout: Any = settings.get("timeout", DEFAULT_TIMEOUT)
        signature: Any = settings.get("signature", "propcare")
        return cls(url=url, secret=secret, timeout=timeout, signature=signature)

    @property
    def endpoint(self) -> str:
        """The URL as failure reasons show it: without the query, which may hold a token."""
        parts = urlsplit(self.url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def encode_message(message: OutboundMessage) -> bytes:
    """The request body: the rendered message as UTF-8 JSON, Chinese text unescaped."""
    document = {
        "idempotency_key": message.idempotency_key,
        "channel": message.channel,
        "estate_id": message.estate_id,
        # The full address: the gateway has to send to it. Logs use recipient.masked.
        "recipient": {"name": message.recipient.name, "address": message.recipient.address},
        "subject": message.subject,
        "body": message.body,
        "locale": message.locale,
        "template": message.template,
        "created_at": message.created_at.isoformat(),
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def webhook_id(message: OutboundMessage) -> str:
    """The Standard Webhooks ``webhook-id`` of a delivery: ``msg_`` and 32 hex digits.

    A hash of the delivery's idempotency key, its estate, the instant it was queued (to
    the microsecond) and the request body (:func:`encode_message`: recipient, text,
    locale, template). So a retry, which sends the same body, has the same id, as the
    specification asks (receivers dedupe on it); and two requests that differ in anything
    have two ids, though every database has an estate 1 and callers reuse their keys:
    another installation's notice under the same key is queued at another instant or
    says something else (its estate's name), and is not dropped as a repeat.
    """
    queued = message.created_at.astimezone(UTC)
    fixed = [message.idempotency_key, message.estate_id, queued.isoformat(timespec="microseconds")]
    text = json.dumps(fixed, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # The body with the queue time in UTC: the same instant read back in another zone is
    # the same delivery.
    body = encode_message(attrs.evolve(message, created_at=queued))
    return "msg_" + hashlib.sha256(text + b"\n" + body).hexdigest()[:32]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: urllib would follow a 301/302/303 with a GET and drop the body."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None  # the opener then raises HTTPError with the 3xx status


def _snippet(error: urllib.error.HTTPError) -> str:
    """The start of a refusal's body, on one line, as part of the reason."""
    try:
        raw = error.read(_READ_LIMIT)
    except (OSError, http.client.HTTPException):
        return ""  # the status alone still says what happened
    text = " ".join(raw.decode("utf-8", errors="replace").split())
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"


class WebhookChannel:
    """POSTs each message to ``settings["url"]``, signed with ``settings["secret"]``.

    ``unix_time`` gives the signing timestamp; tests pass a fixed one.
    """

    def __init__(
        self, settings: Mapping[str, Any], *, unix_time: Callable[[], float] = time.time
    ) -> None:
        self.settings = WebhookSettings.from_settings(settings)
        self._unix_time = unix_time
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._target = f"channel:{CHANNEL_NAME}"

    def request(self, message: OutboundMessage) -> urllib.request.Request:
        """The signed POST for ``message``; a new timestamp and signature on every call.

        Signed as the ``signature`` setting says: X-Propcare-Timestamp and
        X-Propcare-Signature, or Standard Webhooks' webhook-id (the same on every retry),
        webhook-timestamp and webhook-signature."""
        body = encode_message(message)
        timestamp = int(self._unix_time())
        secret = self.settings.secret
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "propcare-webhook/0.1",
        }
        if self.settings.signature == "standard-webhooks":
            msg_id = webhook_id(message)
            headers[WEBHOOK_ID_HEADER] = msg_id
            headers[WEBHOOK_TIMESTAMP_HEADER] = str(timestamp)
            headers[WEBHOOK_SIGNATURE_HEADER] = standard_signature(secret, msg_id, timestamp, body)
        else:
            headers[TIMESTAMP_HEADER] = str(timestamp)
            headers[SIGNATURE_HEADER] = sign(secret, timestamp, body)
        headers[IDEMPOTENCY_HEADER] = message.idempotency_key
        return urllib.request.Request(self.settings.url, data=body, method="POST", headers=headers)

    def send(self, message: OutboundMessage) -> None:
        request = self.request(message)
        where = self.settings.endpoint
        try:
            with self._opener.open(request, timeout=self.settings.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            try:
                raise self._refused(error) from error
            finally:
                error.close()
        except urllib.error.URLError as error:
            # URLError wraps what failed before an answer: refused, DNS, TLS, connect timeout.
            if isinstance(error.reason, TimeoutError):
                raise self._timed_out(where) from error
            raise DeliveryFailed(self._target, f"cannot reach {where}: {error.reason}") from error
        except TimeoutError as error:
            # The request went out and no answer came in time: the receiver may
            # still act on it, which is why the retry carries the same key.
            raise self._timed_out(where) from error
        except (OSError, http.client.HTTPException) as error:
            raise DeliveryFailed(
                self._target, f"connection to {where} failed: {type(error).__name__}: {error}"
            ) from error
        log.debug(
            "webhook %s: %s to %s answered %d",
            message.idempotency_key,
            message.recipient.masked,
            where,
            status,
        )

    def _timed_out(self, where: str) -> DeliveryFailed:
        return DeliveryFailed(
            self._target, f"no answer from {where} within {self.settings.timeout:g} s"
        )

    def _refused(self, error: urllib.error.HTTPError) -> DeliveryFailed:
        code = error.code
        snippet = _snippet(error)
        reason = f"HTTP {code} {error.reason}" + (f": {snippet}" if snippet else "")
        if 300 <= code < 400:
            location = error.headers.get("Location") if error.headers else None
            return DeliveryFailed(
                self._target,
                f"HTTP {code} redirect to {location!r} from {self.settings.endpoint}; "
                "redirects are not followed (a POST would lose its body): set "
                "channels.webhook.url to the final address",
            )
        if 400 <= code < 500 and code not in RETRIED_CLIENT_ERRORS:
            return DeliveryFailed(self._target, reason, permanent=True)
        return DeliveryFailed(self._target, reason)
