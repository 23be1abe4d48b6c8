"""Signing webhook requests, and checking them on the receiving side.

Two schemes, chosen by the ``signature`` setting:

``propcare`` (the default; Stripe-style): HMAC-SHA256, keyed with the shared secret, over
the bytes ``b"<timestamp>." + body``, sent as ``X-Propcare-Timestamp`` and
``X-Propcare-Signature: sha256=<hex>``. The timestamp (unix seconds) is signed with the
body, so a captured request cannot be replayed later under a new timestamp, and
:func:`verify` refuses one whose timestamp is too far from the receiver's clock.

``standard-webhooks`` (https://www.standardwebhooks.com): HMAC-SHA256, keyed with the
bytes of a ``whsec_<base64>`` secret, over ``b"<webhook-id>.<timestamp>." + body``, sent
as ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64>``.
Receivers check it with any Standard Webhooks library (Python: ``standardwebhooks``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from propcare import ConfigError, ValidationError
from propcare.clock import require_aware

__all__ = [
    "DEFAULT_TOLERANCE",
    "IDEMPOTENCY_HEADER",
    "SCHEME",
    "SIGNATURE_HEADER",
    "STANDARD_SECRET_PREFIX",
    "TIMESTAMP_HEADER",
    "WEBHOOK_ID_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "HeaderSource",
    "SignatureInvalid",
    "sign",
    "signed_content",
    "standard_key",
    "standard_signature",
    "verify",
]

TIMESTAMP_HEADER = "X-Propcare-Timestamp"
SIGNATURE_HEADER = "X-Propcare-Signature"
IDEMPOTENCY_HEADER = "X-Propcare-Idempotency-Key"
SCHEME = "sha256="
DEFAULT_TOLERANCE = 300  # seconds either side of the receiver's clock

# Standard Webhooks: its header names (lower case, as the specification writes them) and
# the prefix of its secrets, which carry the key in base64.
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
STANDARD_SECRET_PREFIX = "whsec_"
# The specification asks for keys of 24 to 64 bytes.
_STANDARD_KEY_BYTES = range(24, 65)

# Unix seconds as plain ASCII digits; 12 digits last until the year 33658, and a
# bound keeps a hostile header from being parsed as a huge integer.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


class SignatureInvalid(ValidationError):
    """A webhook request whose signature headers are missing, malformed, wrong or stale."""


class HeaderSource(Protocol):
    """Anything with ``items()`` of (name, value): a dict, ``http.server``'s headers, ..."""

    def items(self) -> Iterable[tuple[str, Any]]: ...


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes) or not secret.strip():
        # Never echo a secret: an error message ends up in logs.
        raise ConfigError("secret", "<hidden>", "must be a non-empty str or bytes")
    return secret


def _raw(body: object) -> bytes:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    # A str here is usually JSON re-serialised by a framework: it will not match.
    raise ValidationError(
        "body", type(body).__name__, "must be the raw request body as bytes, exactly as received"
    )


def signed_content(timestamp: int, body: bytes) -> bytes:
    """The bytes that are signed: ``b"<timestamp>." + body``."""
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValidationError("timestamp", timestamp, "must be unix seconds as an int >= 0")
    return f"{timestamp}.".encode("ascii") + _raw(body)


def sign(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Propcare-Signature`` value for ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    digest = hmac.new(_key(secret), signed_content(timestamp, body), hashlib.sha256)
    return SCHEME + digest.hexdigest()


def _one(headers: HeaderSource, name: str) -> str:
    """The single value of header ``name``, whatever the case of its name."""
    wanted = name.lower()
    values = [str(value) for key, value in headers.items() if str(key).lower() == wanted]
    if not values:
        raise SignatureInvalid(name, None, "is missing: not a signed propcare webhook request")
    if len(values) > 1:
        # Two values leave it open which one a proxy or framework would pick.
        raise SignatureInvalid(name, values, "appears more than once")
    return values[0].strip()


def verify(
    secret: str | bytes,
    headers: HeaderSource,
    body: bytes,
    *,
    now: datetime,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Check a received webhook request; raise :class:`SignatureInvalid` if it does not pass.

    ``headers`` are the request headers (names in any case), ``body`` the raw bytes
    as received, ``now`` the receiver's aware time. The request passes when
    ``X-Propcare-Signature`` is the HMAC-SHA256 of ``b"<X-Propcare-Timestamp>." + body``
    under ``secret`` (compared in constant time) and the timestamp is at most
    ``tolerance`` seconds before or after ``now``.

    The idempotency-key header is not signed; dedupe on the body's
    ``idempotency_key``, which is.
    """
    key = _key(secret)
    raw = _raw(body)
    current = require_aware("now", now).timestamp()
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance <= 0
    ):
        raise ValidationError("tolerance", tolerance, "must be a number of seconds greater than 0")

    stamp = _one(headers, TIMESTAMP_HEADER)
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureInvalid(TIMESTAMP_HEADER, stamp[:40], "must be unix seconds (digits only)")
    timestamp = int(stamp)
    given = _one(headers, SIGNATURE_HEADER)
    if not given.lower().startswith(SCHEME) or not _HEX_DIGEST.fullmatch(
        given[len(SCHEME) :].lower()
    ):
        raise SignatureInvalid(SIGNATURE_HEADER, given[:80], "must be sha256=<64 hex digits>")
    expected = sign(key, timestamp, raw)
    # compare_digest takes as long for a near miss as for a far one, so the time
    # an answer takes tells an attacker nothing about how much of a guess was right.
    if not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii")):
        raise SignatureInvalid(
            SIGNATURE_HEADER,
            given,
            "does not match the body and timestamp: wrong secret, or changed in transit",
        )
    age = current - timestamp
    if age > tolerance:
        raise SignatureInvalid(
            TIMESTAMP_HEADER,
            timestamp,
            f"is {age:.0f} s old, more than the {tolerance} s allowed: a replay, or the "
            "sender's clock is wrong",
        )
    if -age > tolerance:
        raise SignatureInvalid(
            TIMESTAMP_HEADER,
            timestamp,
            f"is {-age:.0f} s in the future, more than the {tolerance} s allowed: one of "
            "the clocks is wrong",
        )


def standard_key(secret: object, field: str = "secret") -> bytes:
    """The HMAC key of a Standard Webhooks secret, ``whsec_`` and the key in base64 (the
    form the specification and its libraries use); ConfigError naming ``field``, never
    showing the secret, for anything else."""
    rule = (
        f"must be a Standard Webhooks secret: {STANDARD_SECRET_PREFIX} and a key of "
        f"{_STANDARD_KEY_BYTES.start} to {_STANDARD_KEY_BYTES.stop - 1} bytes in base64"
    )
    if not isinstance(secret, str) or not secret.startswith(STANDARD_SECRET_PREFIX):
        raise ConfigError(field, "<hidden>", rule)
    encoded = secret[len(STANDARD_SECRET_PREFIX) :]
    try:
        # Unpadded base64 is accepted, as the libraries accept it.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(field, "<hidden>", rule) from None
    if len(key) not in _STANDARD_KEY_BYTES:
        raise ConfigError(field, "<hidden>", rule)
    return key


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value of ``body`` sent as ``message_id`` at ``timestamp``:
    ``v1,`` and the base64 HMAC-SHA256, keyed with the secret's key, of
    ``b"<message_id>.<timestamp>." + body``."""
    content = f"{message_id}.".encode("ascii") + signed_content(timestamp, body)
    digest = hmac.new(standard_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")
