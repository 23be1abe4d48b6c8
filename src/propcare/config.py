"""The configuration file, ``propcare.toml``: what ``Propcare.open(config=...)`` takes.

``load_config(path)`` reads the TOML file, structures it with cattrs into the
:class:`ConfigFile` classes below (unknown keys and wrong types are refused, naming
the file, the key and the rule), resolves relative holiday-file paths against the
file's folder, and returns the mapping ``Propcare.open`` takes. ``Propcare.open(url,
config="propcare.toml")`` does this itself and names the file in every error the
opening raises, so a mistake is found when the app opens, not at 3 a.m.

The classes are the file's schema; the rules that need more than a type (windows,
budgets, channel settings, ...) are checked by the code that uses each section, at
open. The command line finds the file by ``--config`` or ``PROPCARE_CONFIG``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs

from propcare.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "AlertSettings",
    "CalendarSettings",
    "CommissionSettings",
    "ConfigFile",
    "DispatchSettings",
    "DunningSettings",
    "LedgerSettings",
    "SlaSettings",
    "TicketSettings",
    "check_config",
    "load_config",
]

ENV_VAR = "PROPCARE_CONFIG"

Settings = dict[str, Any]


@attrs.frozen
class DispatchSettings:
    auto: bool | None = None
    base_seconds: float | None = None
    cap_seconds: float | None = None
    max_attempts: int | None = None


@attrs.frozen
class CalendarSettings:
    timezone: str | None = None
    windows: dict[str, list[str] | str] | None = None
    sources: list[str | dict[str, Any]] | None = None
    makeup_windows: list[str] | None = None
    always: bool | None = None
    ignore_holidays: bool | None = None


@attrs.frozen
class AlertSettings:
    warn_fraction: float | None = None
    warn_remaining_minutes: float | None = None
    manager_after: float | None = None


@attrs.frozen
class TicketSettings:
    # false turns staff notifications off (TOML has no null).
    notify_channel: str | bool | None = None
    alerts: AlertSettings | None = None
    outage_lead_hours: float | dict[str, float] | None = None


@attrs.frozen
class DunningSettings:
    quiet_hours: str | None = None


@attrs.frozen
class CommissionSettings:
    attribution: str | None = None
    dunning_window_days: int | None = None


@attrs.frozen
class LedgerSettings:
    # principal_first | late_fees_first | all_principal_first (propcare.ledger.allocation)
    allocation: str | None = None


@attrs.frozen
class SlaSettings:
    missing_holiday_data: str | None = None
    # policy name -> {category, priority, response, arrival, resolution, callback, rework}
    policies: dict[str, dict[str, Any]] | None = None
    # estate id -> {policies = {...}}
    estates: dict[str, dict[str, Any]] | None = None


@attrs.frozen
class ConfigFile:
    """The whole file. Every section is optional; a section given replaces the default
    of that key (``dispatch`` is merged key by key), as with ``Propcare.open(config=)``."""

    channels: dict[str, Settings | None] | None = None
    gateways: dict[str, Settings | None] | None = None
    dispatch: DispatchSettings | None = None
    calendars: dict[str, CalendarSettings] | None = None
    tickets: TicketSettings | None = None
    dunning: DunningSettings | None = None
    commission: CommissionSettings | None = None
    sla: SlaSettings | None = None
    ledger: LedgerSettings | None = None


def _strict(kind: type, name: str) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        # TOML's own types are exact: "yes" is not true and 1.5 is not a count.
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok:
            raise ConfigError("value", value, f"must be {name}")
        return value

    return structure


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook(int, _strict(int, "a whole number"))
    converter.register_structure_hook(float, _strict(float, "a number"))
    converter.register_structure_hook(str, _strict(str, "text in quotes"))
    converter.register_structure_hook(Any, lambda value, _type: value)
    # Unions of a text and a table (a source: "cn" or {file = "x.toml"}), of a number and
    # a table (lead hours per estate), of text and true/false: pick by the value's type.
    unions: tuple[tuple[Any, Mapping[type, Any]], ...] = (
        (str | dict[str, Any], {str: str, dict: dict[str, Any]}),
        (list[str] | str, {str: str, list: list[str]}),
        (str | bool, {str: str, bool: bool}),
        (float | dict[str, float], {int: float, float: float, dict: dict[str, float]}),
    )
    for union, by_type in unions:
        hook = _by_type(converter, by_type)
        converter.register_structure_hook(union, hook)
        converter.register_structure_hook(union | None, hook)
    return converter


def _by_type(converter: cattrs.Converter, by_type: Mapping[type, Any]) -> Any:
    def structure(value: Any, union: Any) -> Any:
        if value is None:
            return None
        for kind, target in by_type.items():
            if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
                return converter.structure(value, target)
        raise ConfigError("value", value, f"must be {_union_text(by_type)}")

    return structure


def _union_text(by_type: Mapping[type, Any]) -> str:
    names = {str: "text", list: "a list", dict: "a table", bool: "true or false"}
    words = dict.fromkeys(names.get(k, "a number") for k in by_type)
    return " or ".join(words)


_CONVERTER = _converter()
_AT = re.compile(r"^(?P<rule>.*) @ \$(?P<path>.*)$")
_EXTRA = re.compile(r"^extra fields found \((?P<keys>[^)]*)\)$")
_KNOWN = {
    "": ConfigFile,
    "dispatch": DispatchSettings,
    "tickets": TicketSettings,
    "tickets.alerts": AlertSettings,
    "dunning": DunningSettings,
    "commission": CommissionSettings,
    "sla": SlaSettings,
    "ledger": LedgerSettings,
}


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The configuration in ``path`` (TOML) as the mapping ``Propcare.open`` takes.

    ConfigError names the file and the key: ``propcare.toml: dispatch.max_attempts='8'
    must be a whole number``. Relative paths of calendar ``file`` sources are taken from
    the file's folder, so the configuration works from any working directory.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config", str(file), f"cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError("config", str(file), "is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(file), f"is not valid TOML: {exc}") from None
    check_config(document, str(file))
    tickets = document.get("tickets") or {}
    if tickets.get("notify_channel") is False:
        tickets["notify_channel"] = None  # the mapping's word for "none"
    return _resolve_paths(document, file.parent)


def check_config(config: Mapping[str, Any], origin: str | None = None) -> None:
    """Refuse what the file's schema refuses, in a file or in a mapping given in code:
    an unknown key or a value of the wrong type, as a ConfigError naming the key (and
    ``origin``, the file). ``Propcare.open`` calls it for every configuration."""
    document = _plain(config)
    try:
        _CONVERTER.structure(document, ConfigFile)
    except Exception as exc:  # cattrs gathers every problem into one exception group
        raise _first_problem(origin, document, exc) from None
    if (document.get("tickets") or {}).get("notify_channel") is True:
        raise ConfigError(
            _where(origin, "tickets.notify_channel"), True, "name a channel, or false for none"
        )


def _plain(value: Any) -> Any:
    """Mappings as dicts and tuples as lists (a mapping in code may hold either), for the
    check only: the configuration itself is used as given."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _where(origin: str | None, key: str) -> str:
    return key if origin is None else f"{origin}: {key}"


def _first_problem(origin: str | None, document: Mapping[str, Any], exc: Exception) -> ConfigError:
    """The first problem cattrs found, as a ConfigError naming the file and the key."""
    messages = cattrs.transform_error(exc, path="$")
    leaf = _leaf(exc)
    for message in messages:
        found = _AT.match(message)
        if found is None:
            continue
        path = [p for p in re.split(r"\.|\[['\"]?|['\"]?\]", found["path"]) if p]
        key = ".".join(path)
        extra = _EXTRA.match(found["rule"])
        if extra is not None:
            name = extra["keys"].split(",")[0].strip()
            known = _KNOWN.get(key)
            allowed = ", ".join(f.name for f in attrs.fields(known)) if known else ""
            rule = "unknown key" + (f"; known: {allowed}" if allowed else "")
            where = [*path, name]
            return ConfigError(_where(origin, ".".join(where)), _get(document, where), rule)
        rule = leaf.rule if isinstance(leaf, ConfigError) else found["rule"]
        return ConfigError(_where(origin, key), _get(document, path), rule)
    return ConfigError(origin or "config", "...", f"is not a propcare configuration: {exc}")


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _get(document: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(document, Mapping) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return None
    return document


def _resolve_paths(document: dict[str, Any], folder: Path) -> dict[str, Any]:
    for entry in (document.get("calendars") or {}).values():
        sources = entry.get("sources")
        if not isinstance(sources, list):
            continue
        for i, source in enumerate(sources):
            if isinstance(source, dict) and set(source) == {"file"}:
                setting = source["file"]
                key = "path" if isinstance(setting, dict) else None
                raw = setting.get("path") if key else setting
                if isinstance(raw, str) and not Path(raw).is_absolute():
                    resolved = str(folder / raw)
                    sources[i] = {"file": {"path": resolved} if key else resolved}
    return document
