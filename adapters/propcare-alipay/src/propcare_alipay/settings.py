"""The ``gateways.alipay`` settings, checked once when propcare opens.

Every mistake is a :class:`~propcare.errors.ConfigError` naming the setting as
``gateways.alipay.<name>``; key material never appears in a message (a key given as
text shows as ``<PEM text>``, a key file by its path).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import attrs
from cryptography.hazmat.primitives.asymmetric import rsa

from propcare.clock import Clock, SystemClock
from propcare.errors import ConfigError
from propcare_alipay.signing import load_private_key, load_public_key

__all__ = [
    "DEFAULT_GATEWAY_URL",
    "DEFAULT_MAX_NOTICE_AGE",
    "DEFAULT_SUBJECT",
    "DEFAULT_TIMEOUT",
    "AlipaySettings",
]

DEFAULT_GATEWAY_URL = "https://openapi.alipay.com/gateway.do"
# Alipay re-sends an unanswered notice for about 24 h 24 min (4 m, 10 m, 10 m, 1 h, 2 h,
# 6 h, 15 h); 25 hours accepts its last re-send even if notify_time is the first send's.
DEFAULT_MAX_NOTICE_AGE = timedelta(hours=25)
DEFAULT_TIMEOUT = 10.0
DEFAULT_SUBJECT = "物业费"

_PREFIX = "gateways.alipay."
_REQUIRED = ("app_id", "seller_id", "private_key", "alipay_public_key", "notify_url", "estate_id")
_OPTIONAL = ("gateway_url", "timeout", "max_notice_age", "subject", "clock")


def _name(setting: str) -> str:
    return _PREFIX + setting


def _digits(setting: str, value: object) -> str:
    """An Alipay id (app id, seller PID): digits, as text or an integer."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        raise ConfigError(_name(setting), value, "must be the id Alipay gave, all digits")
    return value


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(setting: str, value: object, *, https_only: bool) -> str:
    if not isinstance(value, str):
        raise ConfigError(_name(setting), value, "must be an http(s) URL")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(_name(setting), value, "must be an http(s) URL with a host")
    # The gateway carries signed money requests: plain http only to this machine (tests).
    if https_only and parts.scheme != "https" and not _loopback(parts.hostname):
        raise ConfigError(_name(setting), value, "must be https (http only for loopback)")
    return value


def _seconds(setting: str, value: object) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ConfigError(_name(setting), value, "must be a number of seconds")
    seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ConfigError(_name(setting), value, "must be a positive number of seconds")
    return seconds


@attrs.frozen
class AlipaySettings:
    """Checked settings; build with :meth:`from_mapping`."""

    app_id: str
    seller_id: str
    private_key: rsa.RSAPrivateKey = attrs.field(repr=False)
    alipay_public_key: rsa.RSAPublicKey = attrs.field(repr=False)
    notify_url: str
    estate_id: int
    gateway_url: str = DEFAULT_GATEWAY_URL
    timeout: float = DEFAULT_TIMEOUT
    max_notice_age: timedelta = DEFAULT_MAX_NOTICE_AGE
    subject: str = DEFAULT_SUBJECT
    clock: Clock = attrs.field(factory=SystemClock, repr=False)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> AlipaySettings:
        if not isinstance(settings, Mapping):
            raise ConfigError("gateways.alipay", settings, "must be a mapping of settings")
        unknown = sorted(set(settings) - set(_REQUIRED) - set(_OPTIONAL))
        if unknown:
            # A misspelt optional setting would otherwise be silently ignored.
            raise ConfigError(
                _name(str(unknown[0])),
                settings[unknown[0]] if "key" not in str(unknown[0]) else "<hidden>",
                f"unknown setting; known: {', '.join(sorted(_REQUIRED + _OPTIONAL))}",
            )
        for setting in _REQUIRED:
            if settings.get(setting) in (None, ""):
                raise ConfigError(_name(setting), settings.get(setting), "is required")
        estate_id = settings["estate_id"]
        if isinstance(estate_id, bool) or not isinstance(estate_id, int) or estate_id <= 0:
            raise ConfigError(_name("estate_id"), estate_id, "must be a positive estate id")
        subject = settings.get("subject", DEFAULT_SUBJECT)
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 256:
            raise ConfigError(_name("subject"), subject, "must be a text of 1 to 256 characters")
        clock = settings.get("clock") or SystemClock()
        if not isinstance(clock, Clock):
            raise ConfigError(_name("clock"), clock, "must have a now() -> aware datetime method")
        return cls(
            app_id=_digits("app_id", settings["app_id"]),
            seller_id=_digits("seller_id", settings["seller_id"]),
            private_key=load_private_key(_name("private_key"), settings["private_key"]),
            alipay_public_key=load_public_key(
                _name("alipay_public_key"), settings["alipay_public_key"]
            ),
            notify_url=_url("notify_url", settings["notify_url"], https_only=False),
            estate_id=estate_id,
            gateway_url=_url(
                "gateway_url", settings.get("gateway_url", DEFAULT_GATEWAY_URL), https_only=True
            ),
            timeout=_seconds("timeout", settings.get("timeout", DEFAULT_TIMEOUT)),
            max_notice_age=timedelta(
                seconds=_seconds(
                    "max_notice_age", settings.get("max_notice_age", DEFAULT_MAX_NOTICE_AGE)
                )
            ),
            subject=subject.strip(),
            clock=clock,
        )
