"""The channel's settings: defaults, each rule as a ConfigError naming its key, secrets hidden."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from propcare_smtp import DEFAULT_PORTS, SmtpChannel, SmtpSettings
from propcare_smtp.settings import Security
from propcare_smtp_testkit import make_pki

from propcare import ConfigError

BASE = {"host": "smtp.example.com", "from_address": "wuye@cuiyuan.example"}
SECRET = "hunter2-Pa55"


def settings(**more: Any) -> dict[str, Any]:
    return {**BASE, **more}


def refused(raw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        SmtpChannel.from_settings(raw)
    return caught.value


def test_defaults_are_starttls_on_587_with_verification_on() -> None:
    channel = SmtpChannel.from_settings(BASE)
    s = channel.settings
    assert (s.security, s.port, s.verify, s.ca_file) == ("starttls", 587, True, None)
    assert s.message_id_domain == "cuiyuan.example"
    assert s.timeout_seconds == 30.0 and s.timezone == "Asia/Shanghai"
    assert s.login is None
    context = s.ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("security", ["plain", "starttls", "ssl"])
def test_each_security_mode_has_its_usual_port(security: Security) -> None:
    s = SmtpSettings.from_mapping(settings(security=security))
    assert s.port == DEFAULT_PORTS[security] == {"plain": 25, "starttls": 587, "ssl": 465}[security]
    assert SmtpSettings.from_mapping(settings(security=security, port=2525)).port == 2525


@pytest.mark.parametrize(
    ("more", "field"),
    [
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"port": "587"}, "port"),
        ({"port": True}, "port"),
        ({"security": "tls"}, "security"),
        ({"security": "STARTTLS"}, "security"),
        ({"host": ""}, "host"),
        ({"host": "smtp example.com"}, "host"),
        ({"host": None}, "host"),
        ({"from_address": "wuye"}, "from_address"),
        ({"from_address": "wuye@a.example, boss@b.example"}, "from_address"),
        ({"from_address": "wuye@a.example\r\nBcc: x@y.example"}, "from_address"),
        ({"from_name": "物业\r\nBcc: x@y.example"}, "from_name"),
        ({"from_name": 7}, "from_name"),
        ({"reply_to": "客服中心"}, "reply_to"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": -1.5}, "timeout_seconds"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds"),
        ({"timeout_seconds": "30"}, "timeout_seconds"),
        ({"verify": "no"}, "verify"),
        ({"username": "wuye"}, "password"),
        ({"password": SECRET}, "username"),
        ({"username": "", "password": SECRET}, "username"),
        ({"username": "物业", "password": SECRET}, "username"),
        ({"usename": "wuye"}, "usename"),
        ({"security": "starttls", "ca_file": "/no/such/ca.pem"}, "ca_file"),
        ({"security": "plain", "verify": False, "host": "127.0.0.1"}, "verify"),
        ({"security": "starttls", "verify": False}, "verify"),
        ({"security": "ssl", "verify": False, "host": "10.0.0.8"}, "verify"),
        ({"security": "plain", "username": "wuye", "password": SECRET}, "security"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"message_id_domain": "exa mple"}, "message_id_domain"),
        ({"from_address": "wuye@[10.0.0.1]"}, "message_id_domain"),
        ({"local_hostname": ""}, "local_hostname"),
        ({"password_env": "PROPCARE_SMTP_TEST_UNSET"}, "password_env"),
        ({"password": SECRET, "password_env": "X"}, "password_env"),
    ],
)
def test_each_bad_setting_is_a_config_error_naming_the_key(
    more: dict[str, Any], field: str
) -> None:
    error = refused(settings(**more))
    assert error.field == f"channels.email.{field}"
    assert str(error).startswith(f"channels.email.{field}=")


@pytest.mark.parametrize("missing", ["host", "from_address"])
def test_host_and_from_address_are_required(missing: str) -> None:
    raw = dict(BASE)
    del raw[missing]
    error = refused(raw)
    assert (error.field, error.rule) == (f"channels.email.{missing}", "is required")


def test_settings_that_are_not_a_mapping_are_refused() -> None:
    assert refused(["smtp.example.com"]).field == "channels.email"


def test_plain_text_refuses_tls_settings_rather_than_ignoring_them(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    error = refused(settings(security="plain", ca_file=str(pki.ca_file)))
    assert error.field == "channels.email.ca_file"
    assert "starttls or ssl" in error.rule


def test_a_ca_file_that_is_not_pem_is_refused_when_the_channel_is_built(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate", encoding="utf-8")
    error = refused(settings(ca_file=str(junk)))
    assert error.field == "channels.email.ca_file"
    assert "cannot be loaded" in error.rule


def test_loopback_may_log_in_over_plain_text_and_skip_verification() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.8.9.10"):
        plain = SmtpSettings.from_mapping(
            settings(host=host, security="plain", username="wuye", password=SECRET)
        )
        assert plain.login == ("wuye", SECRET)
        lax = SmtpSettings.from_mapping(settings(host=host, verify=False))
        assert lax.ssl_context().verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    "more",
    [
        {"username": "wuye", "password": "密码-" + SECRET},  # not ASCII
        {"username": "wuye", "password": ""},
        {"username": "wuye", "password": 1234},
        {"pasword": SECRET},  # misspelt: the value must not show either
        {"security": "plain", "username": "wuye", "password": SECRET},
    ],
)
def test_a_password_never_appears_in_an_error(more: dict[str, Any]) -> None:
    error = refused(settings(**more))
    assert SECRET not in str(error) and "1234" not in str(error)
    assert SECRET not in repr(error.value)


def test_the_password_is_not_in_the_settings_repr() -> None:
    s = SmtpSettings.from_mapping(settings(username="wuye", password=SECRET))
    assert SECRET not in repr(s) and "wuye" in repr(s)
    assert s.login == ("wuye", SECRET)


def test_the_password_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROPCARE_SMTP_TEST_PASSWORD", SECRET)
    s = SmtpSettings.from_mapping(
        settings(username="wuye", password_env="PROPCARE_SMTP_TEST_PASSWORD")
    )
    assert s.login == ("wuye", SECRET)


def test_integer_timeout_and_path_ca_file_are_accepted(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    s = SmtpSettings.from_mapping(settings(timeout_seconds=5, ca_file=pki.ca_file))
    assert s.timeout_seconds == 5.0 and isinstance(s.timeout_seconds, float)
    assert s.ca_file == pki.ca_file


def test_settings_constructed_directly_obey_the_same_rules() -> None:
    with pytest.raises(ConfigError) as caught:
        SmtpSettings(host="smtp.example.com", from_address="wuye@a.example", verify=False)
    assert caught.value.field == "channels.email.verify"


@given(st.integers(min_value=1, max_value=65535))
def test_every_port_in_range_is_kept(port: int) -> None:
    assert SmtpSettings.from_mapping(settings(port=port)).port == port


@given(st.integers().filter(lambda p: not 1 <= p <= 65535))
def test_every_port_out_of_range_is_refused(port: int) -> None:
    with pytest.raises(ConfigError) as caught:
        SmtpSettings.from_mapping(settings(port=port))
    assert (caught.value.field, caught.value.value) == ("channels.email.port", port)


def test_message_ids_of_an_idn_sender_use_its_ascii_domain() -> None:
    s = SmtpSettings.from_mapping(settings(from_address="wuye@物业.中国"))
    assert s.message_id_domain == "物业.中国".encode("idna").decode("ascii")
    assert s.message_id_domain.startswith("xn--")
    own = SmtpSettings.from_mapping(settings(message_id_domain="mail.cuiyuan.example"))
    assert own.message_id_domain == "mail.cuiyuan.example"
