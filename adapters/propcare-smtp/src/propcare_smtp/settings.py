"""The ``email`` channel's settings, read once when the app opens and checked there.

Every mistake is a :class:`~propcare.errors.ConfigError` naming the key
(``channels.email.port``), the value and the rule, so a typo stops
``Propcare.open`` instead of the first notice going nowhere. The password is never
shown: not in an error, not in ``repr``.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import ssl
from collections.abc import Mapping
from email.errors import MessageError
from email.headerregistry import Address
from pathlib import Path
from typing import Any, Final, Literal, TypeAlias, cast

import attrs

from propcare.clock import DEFAULT_TZ, zone
from propcare.errors import ConfigError, ValidationError

__all__ = [
    "DEFAULT_PORTS",
    "KEYS",
    "SECURITY_MODES",
    "Security",
    "SmtpSettings",
    "ascii_address",
    "is_loopback",
    "parse_address",
]

Security: TypeAlias = Literal["plain", "starttls", "ssl"]
SECURITY_MODES: Final[tuple[Security, ...]] = ("plain", "starttls", "ssl")
DEFAULT_PORTS: Final[Mapping[Security, int]] = {"plain": 25, "starttls": 587, "ssl": 465}

KEYS: Final = frozenset(
    {
        "host",
        "port",
        "security",
        "username",
        "password",
        "password_env",
        "from_address",
        "from_name",
        "reply_to",
        "timeout_seconds",
        "ca_file",
        "verify",
        "local_hostname",
        "message_id_domain",
        "timezone",
    }
)

_PREFIX = "channels.email"
_HIDDEN = "***"  # what an error shows instead of a password
# A domain as it may follow the "@" of a Message-ID: letters, digits, hyphens, dots.
_DOMAIN = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")


def _fail(key: str, value: Any, rule: str) -> ConfigError:
    return ConfigError(f"{_PREFIX}.{key}", value, rule)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_address(text: str) -> Address:
    """``text`` as one bare e-mail address (``user@domain``); ValueError if it is not one."""
    try:
        address = Address(addr_spec=text)
    except (ValueError, IndexError, MessageError) as exc:
        # IndexError: the email package's parser runs off the end of "" and "a@".
        raise ValueError(f"not an e-mail address ({type(exc).__name__})") from None
    if not address.username or not address.domain:
        raise ValueError("not an e-mail address (needs user@domain)")
    return address


def ascii_address(text: str) -> Address:
    """``text`` as an e-mail address with its domain in ASCII (例子.中国 -> xn--fsqu00a.xn--fiqs8s).

    An internationalised domain in its ASCII form reaches any server; left in Unicode
    it needs the server's SMTPUTF8 extension. ValueError if ``text`` is not e-mail
    (the email package also refuses a non-ASCII local part).
    """
    address = parse_address(text)
    if address.domain.isascii():
        return address
    try:
        domain = address.domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not an e-mail address (its domain is not a valid IDN)") from None
    return Address(username=address.username, domain=domain)


def _check_security(_: object, __: attrs.Attribute[Security], value: object) -> None:
    if value not in SECURITY_MODES:
        raise _fail("security", value, f"must be one of {', '.join(SECURITY_MODES)}")


def _check_host(_: object, __: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not value or _SPACE_OR_CONTROL.search(value):
        raise _fail("host", value, "must be the SMTP server's host name or IP address")


def _check_port(_: object, __: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise _fail("port", value, "must be a whole number from 1 to 65535")


def _check_timeout(_: object, __: attrs.Attribute[float], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise _fail("timeout_seconds", value, "must be a number of seconds greater than 0")


def _check_verify(_: object, __: attrs.Attribute[bool], value: object) -> None:
    if not isinstance(value, bool):
        raise _fail("verify", value, "must be true or false")


def _check_from_address(_: object, __: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise _fail("from_address", value, "must be an e-mail address such as wuye@example.com")
    try:
        ascii_address(value)
    except ValueError as exc:
        raise _fail(
            "from_address", value, f"must be an e-mail address such as wuye@example.com: {exc}"
        ) from None


def _check_reply_to(_: object, __: attrs.Attribute[str | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise _fail("reply_to", value, "must be an e-mail address")
    try:
        ascii_address(value)
    except ValueError as exc:
        raise _fail("reply_to", value, f"must be an e-mail address: {exc}") from None


def _check_from_name(_: object, __: attrs.Attribute[str], value: object) -> None:
    # A line break in a header value would let the name start a header of its own.
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise _fail("from_name", value, "must be text on one line (the sender's display name)")


def _check_local_hostname(_: object, __: attrs.Attribute[str | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value or _SPACE_OR_CONTROL.search(value):
        raise _fail("local_hostname", value, "must be the host name to greet the server with")


def _check_domain(_: object, __: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _DOMAIN.fullmatch(value):
        raise _fail(
            "message_id_domain",
            value,
            "must be an ASCII domain (letters, digits, hyphens, dots) for the right of "
            "Message-ID's @; set it when from_address has a literal domain ([10.0.0.1])",
        )


def _check_timezone(_: object, __: attrs.Attribute[str], value: object) -> None:
    try:
        zone(cast(str, value), f"{_PREFIX}.timezone")
    except ValidationError as exc:
        raise ConfigError(exc.field, exc.value, exc.rule) from None


def _check_ca_file(_: object, __: attrs.Attribute[Path | None], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, Path) or not value.is_file():
        raise _fail("ca_file", value, "must be the path of a PEM file of trusted certificates")


# attrs runs default factories before any validator, so these two must survive a bad
# security or from_address; the validators of those fields, run first, then refuse it.
def _default_port(settings: SmtpSettings) -> int:
    return DEFAULT_PORTS.get(settings.security, 0)


def _default_domain(settings: SmtpSettings) -> str:
    try:
        return ascii_address(str(settings.from_address)).domain
    except ValueError:
        return ""


@attrs.frozen
class SmtpSettings:
    """How to reach the SMTP server and how to sign the messages.

    Build it with :meth:`from_mapping` from the app's ``channels.email`` settings;
    constructing it directly runs the same checks.
    """

    host: str = attrs.field(validator=_check_host)
    from_address: str = attrs.field(validator=_check_from_address)
    security: Security = attrs.field(default="starttls", validator=_check_security)
    port: int = attrs.field(
        default=attrs.Factory(_default_port, takes_self=True), validator=_check_port
    )
    username: str | None = None
    # repr=False: settings end up in tracebacks and debug logs; the password must not.
    password: str | None = attrs.field(default=None, repr=False)
    from_name: str = attrs.field(default="", validator=_check_from_name)
    reply_to: str | None = attrs.field(default=None, validator=_check_reply_to)
    timeout_seconds: float = attrs.field(default=30.0, validator=_check_timeout)
    ca_file: Path | None = attrs.field(default=None, validator=_check_ca_file)
    verify: bool = attrs.field(default=True, validator=_check_verify)
    local_hostname: str | None = attrs.field(default=None, validator=_check_local_hostname)
    message_id_domain: str = attrs.field(
        default=attrs.Factory(_default_domain, takes_self=True), validator=_check_domain
    )
    timezone: str = attrs.field(default=DEFAULT_TZ, validator=_check_timezone)

    def __attrs_post_init__(self) -> None:
        self._check_login()
        if self.security == "plain":
            for key, value, default in (
                ("ca_file", self.ca_file, None),
                ("verify", self.verify, True),
            ):
                if value != default:
                    # Refused rather than ignored: whoever set it believes TLS is on.
                    raise _fail(key, value, "only applies with security starttls or ssl")
        if not self.verify and not is_loopback(self.host):
            raise _fail(
                "verify",
                False,
                f"may be false only for a loopback host, not {self.host!r}; to trust a "
                "self-signed or private certificate give its CA as ca_file",
            )

    def _check_login(self) -> None:
        if (self.username is None) != (self.password is None):
            missing, given = (
                ("password", "username") if self.password is None else ("username", "password")
            )
            raise _fail(missing, None, f"is required when {given} is given (log in with both)")
        if self.username is None:
            return
        if not isinstance(self.username, str) or not self.username:
            raise _fail("username", self.username, "must be the login name, as text")
        if not isinstance(self.password, str) or not self.password:
            raise _fail("password", _HIDDEN, "must be the login password, as text")
        # smtplib encodes AUTH PLAIN / LOGIN credentials as ASCII and would fail at send time.
        if not self.username.isascii():
            raise _fail("username", self.username, "must be ASCII (smtplib logs in with ASCII)")
        if not self.password.isascii():
            raise _fail("password", _HIDDEN, "must be ASCII (smtplib logs in with ASCII)")
        if self.security == "plain" and not is_loopback(self.host):
            raise _fail(
                "security",
                "plain",
                f"would send the password to {self.host!r} in clear; use starttls or ssl "
                "(plain with a login is allowed only for a loopback host)",
            )

    @property
    def login(self) -> tuple[str, str] | None:
        """(username, password) when the channel logs in, else None."""
        if self.username is None or self.password is None:
            return None
        return self.username, self.password

    def ssl_context(self) -> ssl.SSLContext:
        """The client TLS context: system CAs (or only ``ca_file``), hostname checked."""
        cafile = None if self.ca_file is None else str(self.ca_file)
        try:
            context = ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise _fail(
                "ca_file", self.ca_file, f"cannot be loaded as PEM certificates: {exc}"
            ) from None
        if not self.verify:
            # Loopback only (checked above): a test server with a throw-away certificate.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> SmtpSettings:
        """Read ``config["channels"]["email"]``; ConfigError names the first bad key."""
        if not isinstance(settings, Mapping):
            raise ConfigError(_PREFIX, settings, "must be a mapping of settings")
        unknown = sorted(str(k) for k in settings if k not in KEYS)
        if unknown:
            # The value is not shown: a misspelt key may well hold a password.
            raise _fail(unknown[0], _HIDDEN, f"is not a setting; known: {', '.join(sorted(KEYS))}")
        for key in ("host", "from_address"):
            if key not in settings:
                raise _fail(key, None, "is required")
        if "password" in settings and "password_env" in settings:
            raise _fail(
                "password_env", settings["password_env"], "give password or password_env, not both"
            )
        values = {k: v for k, v in settings.items() if k not in {"password_env", "ca_file"}}
        if "password_env" in settings:
            values["password"] = _password_from_env(settings["password_env"])
        if settings.get("ca_file") is not None:
            ca_file = settings["ca_file"]
            if not isinstance(ca_file, str | Path) or not str(ca_file):
                raise _fail(
                    "ca_file", ca_file, "must be the path of a PEM file of trusted certificates"
                )
            values["ca_file"] = Path(ca_file)
        if isinstance(values.get("timeout_seconds"), int) and not isinstance(
            values["timeout_seconds"], bool
        ):
            values["timeout_seconds"] = float(values["timeout_seconds"])
        if values.get("from_name") is None:
            values.pop("from_name", None)
        return cls(**values)


def _password_from_env(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise _fail("password_env", name, "must be the name of an environment variable")
    password = os.environ.get(name)
    if password is None:
        raise _fail("password_env", name, "names an environment variable that is not set")
    return password
