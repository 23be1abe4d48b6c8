"""The settings of one WeChat Pay merchant account, checked once when propcare opens.

Every bad setting is a :class:`~propcare.errors.ConfigError` naming it as it is written
in the configuration (``gateways.wechatpay.<key>``). Secrets (the merchant private key
and the APIv3 key) are never put into a message: a misconfigured server's log must not
become the place they leak from.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from propcare import Clock, ConfigError, SystemClock
from propcare.ledger.gateways import PaymentRequest
from propcare_wechatpay.signing import PlatformKey, canonical_serial

__all__ = [
    "DEFAULT_BASE_URL",
    "EXPIRY_WARNING",
    "SETTING_KEYS",
    "WeChatPaySettings",
    "expiry_warning",
    "is_loopback",
]

log = logging.getLogger("propcare_wechatpay")

DEFAULT_BASE_URL = "https://api.mch.weixin.qq.com"
PREFIX = "gateways.wechatpay."
TRADE_TYPES = ("native", "jsapi")
# WeChat Pay's keys are RSA 2048; anything shorter is not one of theirs or ours.
MIN_RSA_BITS = 2048
# A platform certificate this close to its end is warned of, at opening and when it signs.
EXPIRY_WARNING = timedelta(days=30)

SETTING_KEYS = frozenset(
    {
        "mchid",
        "appid",
        "merchant_private_key",
        "merchant_serial_no",
        "apiv3_key",
        "platform_public_keys",
        "base_url",
        "notify_url",
        "estate_id",
        "trade_type",
        "timeout",
        "description",
        "payer_openid",
        "clock",
    }
)

_DIGITS = re.compile(r"[0-9]{1,32}")
_APPID = re.compile(r"[A-Za-z0-9_]{1,32}")
_HEX = re.compile(r"[0-9A-Fa-f]{1,64}")
# Platform serials are certificate serials (hex) or, for the WeChat Pay public key,
# ids such as PUB_KEY_ID_0114...; both are plain tokens.
_SERIAL = re.compile(r"[0-9A-Za-z_]{1,64}")


def _fail(key: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(PREFIX + key, value, rule)


def _secret(value: Any) -> str:
    """What a message may say about a secret: its type and size, never its content."""
    size = len(value) if isinstance(value, str | bytes) else None
    return f"<{type(value).__name__}{'' if size is None else f', {size} long'}>"


def _text(settings: Mapping[str, Any], key: str, pattern: re.Pattern[str], rule: str) -> str:
    value = settings.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(key, value, rule)
    return value


def _pem_bytes(key: str, value: Any, what: str) -> bytes:
    """PEM text given inline, or the path of a PEM file."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str) and "-----BEGIN" in value:
        return value.encode("ascii", "replace")
    if isinstance(value, str | Path) and str(value).strip():
        path = Path(value)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _fail(key, str(path), f"cannot read the {what} file: {exc.strerror}") from None
    raise _fail(key, _secret(value), f"must be the {what} as PEM text or the path of a PEM file")


def _private_key(value: Any) -> RSAPrivateKey:
    key = "merchant_private_key"
    pem = _pem_bytes(key, value, "merchant API private key (apiclient_key.pem)")
    # A path may be shown; the key itself may not.
    is_path = isinstance(value, Path) or (isinstance(value, str) and "-----BEGIN" not in value)
    shown = str(value) if is_path else _secret(value)
    try:
        loaded = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise _fail(
            key, shown, "is not an unencrypted PEM private key (apiclient_key.pem)"
        ) from None
    if not isinstance(loaded, RSAPrivateKey) or loaded.key_size < MIN_RSA_BITS:
        raise _fail(key, shown, f"must be an RSA key of at least {MIN_RSA_BITS} bits")
    return loaded


def _public_key(serial: str, value: Any) -> PlatformKey:
    key = f"platform_public_keys.{serial}"
    pem = _pem_bytes(key, value, "WeChat Pay public key or platform certificate")
    not_before = not_after = None
    try:
        if b"BEGIN CERTIFICATE" in pem:
            cert = x509.load_pem_x509_certificate(pem)
            # A certificate filed under another serial would make the wrong key verify
            # (or none): the usual slip when certificates are rotated by hand. Serials
            # are numbers: "5157f0..." and "5157F0..." name the same certificate.
            if not _HEX.fullmatch(serial) or int(serial, 16) != cert.serial_number:
                raise _fail(
                    key,
                    f"{cert.serial_number:X}",
                    "the certificate's serial differs from the serial it is filed under",
                )
            loaded: Any = cert.public_key()
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        else:
            loaded = serialization.load_pem_public_key(pem)
    except ValueError:
        raise _fail(key, str(value)[:40], "is not a PEM public key or certificate") from None
    if not isinstance(loaded, RSAPublicKey) or loaded.key_size < MIN_RSA_BITS:
        raise _fail(key, str(value)[:40], f"must be an RSA key of at least {MIN_RSA_BITS} bits")
    return PlatformKey(loaded, not_before, not_after)


def _platform_keys(value: Any) -> dict[str, PlatformKey]:
    """The keys by :func:`~propcare_wechatpay.signing.canonical_serial`."""
    if not isinstance(value, Mapping) or not value:
        raise _fail(
            "platform_public_keys",
            value,
            "must map each WeChat Pay serial (Wechatpay-Serial) to its public key or "
            "certificate PEM; at least one",
        )
    keys: dict[str, PlatformKey] = {}
    for serial, pem in value.items():
        if not isinstance(serial, str) or not _SERIAL.fullmatch(serial):
            raise _fail("platform_public_keys", serial, "a serial must be letters, digits or _")
        canonical = canonical_serial(serial)
        if canonical in keys:
            raise _fail(
                "platform_public_keys",
                serial,
                f"names the same serial as another key ({canonical}); list each key once",
            )
        keys[canonical] = _public_key(serial, pem)
    return keys


def expiry_warning(serial: str, key: PlatformKey, now: datetime) -> str | None:
    """What to warn of a platform certificate at ``now``: expired, or expiring within
    :data:`EXPIRY_WARNING`; None for a public key or a certificate with time to spare."""
    if key.not_after is None:
        return None
    left = key.not_after - now
    if left > EXPIRY_WARNING:
        return None
    when = key.not_after.isoformat()
    if left < timedelta(0):
        return (
            f"WeChat Pay platform certificate {serial} expired at {when}: messages it signs "
            "are refused; remove it from gateways.wechatpay.platform_public_keys"
        )
    return (
        f"WeChat Pay platform certificate {serial} expires at {when} (in {left.days} days): "
        "add its successor to gateways.wechatpay.platform_public_keys; messages it signs "
        "are refused after that"
    )


def _apiv3_key(value: Any) -> bytes:
    raw = value.encode("utf-8") if isinstance(value, str) else value
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise _fail("apiv3_key", _secret(value), "must be the 32-byte APIv3 key")
    return raw


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _base_url(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    host = parts.hostname if parts is not None else None
    # No path: the signature covers the path WeChat Pay sees, which a prefix would change.
    if parts is None or not host or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise _fail(
            "base_url", value, "must be a scheme and host without a path, like " + DEFAULT_BASE_URL
        )
    # Plain http only to this machine (a test server); the real API is https.
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(host)):
        raise _fail("base_url", value, "must use https (http only to a loopback test server)")
    return str(value).rstrip("/")


def _notify_url(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    # WeChat Pay calls only https URLs reachable from outside, and refuses query strings.
    if parts is None or parts.scheme != "https" or not parts.hostname or parts.query:
        raise _fail("notify_url", value, "must be an https URL without a query string")
    return str(value)


def _positive_int(key: str, value: Any, rule: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(key, value, rule)
    return value


def _timeout(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 120:
        raise _fail("timeout", value, "must be a number of seconds between 0 and 120")
    return float(value)


@attrs.frozen
class WeChatPaySettings:
    """One merchant account (商户号) that collects for one estate, loaded and checked."""

    mchid: str
    appid: str
    merchant_key: RSAPrivateKey = attrs.field(repr=False)
    merchant_serial_no: str
    apiv3_key: bytes = attrs.field(repr=False)
    platform_keys: Mapping[str, PlatformKey] = attrs.field(repr=False)
    notify_url: str
    estate_id: int
    base_url: str = DEFAULT_BASE_URL
    trade_type: Literal["native", "jsapi"] = "native"
    timeout: float = 10.0
    description: str = "物业缴费"
    payer_openid: Callable[[PaymentRequest], str] | None = None
    clock: Clock = attrs.field(factory=SystemClock)

    @classmethod
    def load(cls, settings: Mapping[str, Any]) -> WeChatPaySettings:
        """Check ``settings`` (the ``gateways.wechatpay`` mapping) and load the keys."""
        if not isinstance(settings, Mapping):
            raise ConfigError("gateways.wechatpay", settings, "must be a mapping of settings")
        unknown = sorted(str(k) for k in settings if k not in SETTING_KEYS)
        if unknown:
            # The value is not shown: a misspelt key may well hold a secret.
            raise _fail(
                unknown[0],
                _secret(settings[unknown[0]]),
                f"unknown setting; known: {', '.join(sorted(SETTING_KEYS))}",
            )
        trade_type = settings.get("trade_type", "native")
        if trade_type not in TRADE_TYPES:
            raise _fail("trade_type", trade_type, f"must be one of {', '.join(TRADE_TYPES)}")
        openid = settings.get("payer_openid")
        if trade_type == "jsapi" and not callable(openid):
            raise _fail(
                "payer_openid",
                openid,
                "jsapi needs a callable PaymentRequest -> the payer's openid for this appid",
            )
        if openid is not None and not callable(openid):
            raise _fail("payer_openid", openid, "must be a callable PaymentRequest -> openid")
        clock = settings.get("clock") or SystemClock()
        if not isinstance(clock, Clock):
            raise _fail("clock", clock, "must have a now() -> aware datetime method")
        description = settings.get("description", "物业缴费")
        if not isinstance(description, str) or not 0 < len(description.strip()) <= 127:
            raise _fail("description", description, "must be 1 to 127 characters")
        platform_keys = _platform_keys(settings.get("platform_public_keys"))
        now = clock.now()
        for serial, platform_key in platform_keys.items():
            warning = expiry_warning(serial, platform_key, now)
            if warning is not None:
                log.warning("%s", warning)
        return cls(
            mchid=_text(settings, "mchid", _DIGITS, "must be the merchant id (商户号), digits"),
            appid=_text(
                settings, "appid", _APPID, "must be the appid bound to the merchant (wx...)"
            ),
            merchant_key=_private_key(settings.get("merchant_private_key")),
            merchant_serial_no=_text(
                settings,
                "merchant_serial_no",
                _HEX,
                "must be the serial number of the merchant API certificate, in hex",
            ).upper(),
            apiv3_key=_apiv3_key(settings.get("apiv3_key")),
            platform_keys=platform_keys,
            notify_url=_notify_url(settings.get("notify_url")),
            estate_id=_positive_int(
                "estate_id",
                settings.get("estate_id"),
                "must be the id of the estate this merchant account collects for",
            ),
            base_url=_base_url(settings.get("base_url", DEFAULT_BASE_URL)),
            trade_type=trade_type,
            timeout=_timeout(settings.get("timeout", 10)),
            description=description.strip(),
            payer_openid=openid,
            clock=clock,
        )
