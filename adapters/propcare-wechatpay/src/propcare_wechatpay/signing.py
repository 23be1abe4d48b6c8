"""WeChat Pay API v3 signatures and the AEAD resource envelope.

Requests are signed with the merchant's RSA key over
``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nBODY\\n``. WeChat Pay signs its responses and
callbacks with its own key over ``TIMESTAMP\\nNONCE\\nBODY\\n``, naming the key by
``Wechatpay-Serial``. All of it is RSASSA-PKCS1-v1_5 with SHA-256, base64 encoded.
A serial names a platform certificate by its serial number, in hex, which WeChat Pay
writes in upper case and which is compared as a number (as WeChat Pay's SDKs do:
wechatpayv3 compares ``int(serial, 16)`` with the certificate's); a WeChat Pay public key
is named by its id (``PUB_KEY_ID_...``), compared as text. A certificate verifies only
within its validity period.
Callback payloads are additionally encrypted with AEAD_AES_256_GCM under the merchant's
APIv3 key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256

from propcare import ValidationError

__all__ = [
    "AUTH_SCHEME",
    "MAX_SKEW_SECONDS",
    "SIGNTEST_PREFIX",
    "PlatformKey",
    "SignedBy",
    "authorization",
    "canonical_serial",
    "decrypt_resource",
    "new_nonce",
    "sign",
    "verify_signed",
]

AUTH_SCHEME = "WECHATPAY2-SHA256-RSA2048"
# WeChat Pay's own rule: a message 5 minutes or more away from now is a replay (or a
# clock so wrong that nothing it signs can be trusted), however good its signature.
MAX_SKEW_SECONDS = 300
# WeChat Pay sends probes with this signature to find merchants that skip verification.
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"

_HEX_SERIAL = re.compile(r"[0-9A-Fa-f]{1,64}")
_SERIAL = re.compile(r"[0-9A-Za-z_]{1,64}")

TIMESTAMP = "Wechatpay-Timestamp"
NONCE = "Wechatpay-Nonce"
SIGNATURE = "Wechatpay-Signature"
SERIAL = "Wechatpay-Serial"


def _message(*parts: str | bytes) -> bytes:
    """Each part followed by a newline: the signed string of every v3 signature."""
    return b"".join((p.encode("utf-8") if isinstance(p, str) else p) + b"\n" for p in parts)


def sign(key: RSAPrivateKey, *parts: str | bytes) -> str:
    """Base64 SHA256withRSA signature of ``parts``, each ended by a newline."""
    return base64.b64encode(key.sign(_message(*parts), PKCS1v15(), SHA256())).decode("ascii")


def new_nonce() -> str:
    return secrets.token_hex(16).upper()


def authorization(
    key: RSAPrivateKey,
    *,
    mchid: str,
    serial_no: str,
    method: str,
    path: str,
    body: bytes,
    timestamp: int,
    nonce: str,
) -> str:
    """The ``Authorization`` header of a request; ``path`` includes any query string."""
    signature = sign(key, method.upper(), path, str(timestamp), nonce, body)
    return (
        f'{AUTH_SCHEME} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def _headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive (HTTP/2 proxies lower-case them)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = str(name).lower()
        if low in out and out[low] != value:
            # Two spellings with two values: which one was signed is unknowable.
            raise ValidationError(name, value, "header given twice with different values")
        out[low] = value
    return out


def _required(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name.lower())
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, value, "header is required on a WeChat Pay message")
    return value.strip()


def canonical_serial(serial: str) -> str:
    """The form a serial is looked up by: a certificate serial (hex digits, any case,
    leading zeros or not) as upper-case hex of its number; a public key id as it is."""
    if _HEX_SERIAL.fullmatch(serial):
        return f"{int(serial, 16):X}"
    return serial


@attrs.frozen
class PlatformKey:
    """A key WeChat Pay signs with: a WeChat Pay public key (no validity period), or the
    key of a platform certificate, valid from ``not_before`` to ``not_after`` (aware)."""

    key: RSAPublicKey = attrs.field(repr=False)
    not_before: datetime | None = None
    not_after: datetime | None = None


@attrs.frozen
class SignedBy:
    """Who signed a verified message and when; ``expires`` is the end of the signing
    certificate's validity (None for a WeChat Pay public key)."""

    serial: str
    timestamp: int
    expires: datetime | None = None


def verify_signed(
    headers: Mapping[str, str],
    body: bytes,
    platform_keys: Mapping[str, PlatformKey],
    now: datetime,
) -> SignedBy:
    """Check a WeChat Pay response or callback; ValidationError naming what failed.

    ``platform_keys`` are keyed by :func:`canonical_serial`. ``body`` must be the bytes
    as received: the signature covers them, not the JSON they decode to, so a
    re-serialised body (same data, other bytes) does not verify. A platform certificate
    signs nothing before its ``not_before`` or after its ``not_after`` (``now``).
    """
    if not isinstance(body, bytes):
        raise ValidationError("body", type(body).__name__, "must be the raw body as bytes")
    found = _headers(headers)
    signature = _required(found, SIGNATURE)
    if signature.startswith(SIGNTEST_PREFIX):
        raise ValidationError(SIGNATURE, signature[:40], "a WeChat Pay signature probe, refused")
    serial = _required(found, SERIAL)
    known = platform_keys.get(canonical_serial(serial)) if _SERIAL.fullmatch(serial) else None
    if known is None:
        raise ValidationError(
            SERIAL, serial, "unknown WeChat Pay key serial; add it to platform_public_keys"
        )
    if known.not_after is not None and now > known.not_after:
        raise ValidationError(
            SERIAL,
            serial,
            f"the WeChat Pay platform certificate expired at {known.not_after.isoformat()}; "
            "add its successor to platform_public_keys",
        )
    if known.not_before is not None and now < known.not_before:
        raise ValidationError(
            SERIAL,
            serial,
            f"the WeChat Pay platform certificate is valid only from "
            f"{known.not_before.isoformat()}",
        )
    stamp = _required(found, TIMESTAMP)
    if not stamp.isascii() or not stamp.isdigit():
        raise ValidationError(TIMESTAMP, stamp, "must be Unix seconds")
    timestamp = int(stamp)
    skew = abs(now.timestamp() - timestamp)
    if skew >= MAX_SKEW_SECONDS:
        raise ValidationError(
            TIMESTAMP, stamp, f"is {skew:.0f} s from now; must be under {MAX_SKEW_SECONDS} s"
        )
    nonce = _required(found, NONCE)
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError(SIGNATURE, signature[:40], "is not base64") from None
    try:
        known.key.verify(raw, _message(stamp, nonce, body), PKCS1v15(), SHA256())
    except InvalidSignature:
        raise ValidationError(
            SIGNATURE,
            signature[:40],
            f"does not verify with WeChat Pay key {serial} over timestamp, nonce and body",
        ) from None
    return SignedBy(canonical_serial(serial), timestamp, known.not_after)


def decrypt_resource(apiv3_key: bytes, resource: Any) -> dict[str, Any]:
    """Open a callback's ``resource`` (AEAD_AES_256_GCM under the APIv3 key) as JSON."""
    if not isinstance(resource, Mapping):
        raise ValidationError("resource", resource, "must be an object")
    algorithm = resource.get("algorithm")
    if algorithm != "AEAD_AES_256_GCM":
        raise ValidationError("resource.algorithm", algorithm, "must be AEAD_AES_256_GCM")
    fields: dict[str, str] = {}
    for name in ("ciphertext", "nonce", "associated_data"):
        value = resource.get(name, "" if name == "associated_data" else None)
        if not isinstance(value, str) or (name != "associated_data" and not value):
            raise ValidationError(f"resource.{name}", value, "must be a non-empty string")
        fields[name] = value
    try:
        ciphertext = base64.b64decode(fields["ciphertext"], validate=True)
        plain = AESGCM(apiv3_key).decrypt(
            fields["nonce"].encode("utf-8"),
            ciphertext,
            fields["associated_data"].encode("utf-8"),
        )
    except (binascii.Error, InvalidTag, ValueError):
        raise ValidationError(
            "resource.ciphertext",
            fields["ciphertext"][:40],
            "does not decrypt and authenticate with the APIv3 key (AEAD_AES_256_GCM)",
        ) from None
    try:
        data = json.loads(plain)
    except ValueError:
        raise ValidationError("resource", "<decrypted>", "does not hold JSON") from None
    if not isinstance(data, dict):
        raise ValidationError("resource", type(data).__name__, "must decrypt to a JSON object")
    return data
