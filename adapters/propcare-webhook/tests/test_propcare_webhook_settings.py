"""Bad settings are a ConfigError naming the setting when the app opens; the secret never shows."""

from __future__ import annotations

import math
import re
from typing import Any

import propcare_webhook
import pytest
from hypothesis import given
from hypothesis import strategies as st
from propcare_webhook import DEFAULT_TIMEOUT, WebhookChannel, WebhookSettings

from propcare import ConfigError, Propcare

SECRET = "s3cr3t-never-in-logs"
GOOD: dict[str, Any] = {"url": "https://gw.example.cn/propcare", "secret": SECRET, "timeout": 5}


def test_good_settings_are_kept_and_the_timeout_has_a_default() -> None:
    settings = WebhookSettings.from_settings(GOOD)
    assert (settings.url, settings.secret, settings.timeout) == (GOOD["url"], SECRET, 5)
    default = WebhookSettings.from_settings({"url": "http://127.0.0.1:8080/", "secret": "k"})
    assert default.timeout == DEFAULT_TIMEOUT == 10.0


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        (None, "must be the http:// or https:// URL"),
        ("", "must be the http:// or https:// URL"),
        (42, "must be the http:// or https:// URL"),
        ("ftp://gw.example.cn/in", "must be the http:// or https:// URL"),
        ("gw.example.cn/propcare", "must be the http:// or https:// URL"),
        ("https://", "must name a host"),
        ("https://gw.example.cn:99999/", "has a port that is not a number 0-65535"),
        ("https://gw.example.cn/a b", "must not contain spaces or control characters"),
        ("https://gw.example.cn/\n", "must not contain spaces or control characters"),
    ],
)
def test_a_bad_url_is_named(url: object, rule: str) -> None:
    with pytest.raises(ConfigError, match=rf"channels\.webhook\.url=.*{re.escape(rule)}") as caught:
        WebhookChannel({**GOOD, "url": url})
    assert caught.value.field == "channels.webhook.url"


def test_credentials_in_the_url_are_refused_without_showing_them() -> None:
    with pytest.raises(ConfigError, match="must not hold user:password@") as caught:
        WebhookChannel({**GOOD, "url": "https://admin:hunter2@gw.example.cn/in"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("secret", [None, "", "   ", 12345, b"bytes-secret"])
def test_a_bad_secret_is_named_but_never_shown(secret: object) -> None:
    with pytest.raises(
        ConfigError, match="channels.webhook.secret=.*must be a non-empty"
    ) as caught:
        WebhookChannel({**GOOD, "secret": secret})
    assert "12345" not in str(caught.value) and "bytes-secret" not in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, 0.0, math.inf, math.nan, True, "10", None])
def test_a_bad_timeout_is_named(timeout: object) -> None:
    with pytest.raises(ConfigError, match="channels.webhook.timeout=.*greater than 0"):
        WebhookChannel({**GOOD, "timeout": timeout})


@given(st.floats(min_value=1e-3, max_value=1e6) | st.integers(1, 10**6))
def test_any_positive_timeout_is_accepted(timeout: float) -> None:
    assert WebhookChannel({**GOOD, "timeout": timeout}).settings.timeout == timeout


def test_a_misspelt_setting_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match=r"channels.webhook=\['timout'\]: unknown settings"):
        WebhookChannel({**GOOD, "timout": 3})


def test_the_secret_is_not_in_the_repr() -> None:
    channel = WebhookChannel(GOOD)
    assert SECRET not in repr(channel.settings)
    assert "gw.example.cn" in repr(channel.settings)


def test_the_app_refuses_to_open_with_a_bad_webhook() -> None:
    config = {"channels": {"webhook": {"url": "mailto:ops@example.cn", "secret": SECRET}}}
    with pytest.raises(ConfigError, match="channels.webhook.url='mailto:ops@example.cn'"):
        Propcare.open(
            "sqlite://:memory:", plugins=[propcare_webhook], load_entrypoints=False, config=config
        )
    without_settings: dict[str, Any] = {"channels": {"webhook": {}}}
    with pytest.raises(ConfigError, match="channels.webhook.url=None"):
        Propcare.open(
            "sqlite://:memory:",
            plugins=[propcare_webhook],
            load_entrypoints=False,
            config=without_settings,
        )
