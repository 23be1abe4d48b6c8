"""Message templates, zh-CN first with English beside it.

A template is a subject and a body in ``str.format`` syntax per locale. propcare's
own messages are in :data:`BUILTIN_TEMPLATES`; a host system rewords any of them, or
adds its own, with :meth:`Templates.add` (``app.templates.add(...)``). A parameter whose
value maps locales to texts (``{"zh-CN": "…", "en": "…"}``) renders in the message's
locale: how ``sla_alert`` says a deadline is provisional.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from propcare.errors import ValidationError

__all__ = ["BUILTIN_TEMPLATES", "DEFAULT_LOCALE", "Templates"]

DEFAULT_LOCALE = "zh-CN"

BUILTIN_TEMPLATES: Mapping[str, Mapping[str, tuple[str, str]]] = {
    "notice": {
        "zh-CN": ("【{estate}】{title}", "尊敬的{name}：{body}"),
        "en": ("[{estate}] {title}", "Dear {name}, {body}"),
    },
    "ticket_assigned": {
        "zh-CN": (
            "工单{ticket}已派给您",
            "{name}：工单{ticket}（{location}）{summary}，请尽快处理。",
        ),
        "en": (
            "Ticket {ticket} assigned to you",
            "{name}: ticket {ticket} ({location}) {summary}. Please handle it promptly.",
        ),
    },
    "sla_alert": {
        "zh-CN": (
            "工单{ticket}时限提醒（{level}）",
            "{name}：工单{ticket}「{summary}」的{target}时限为{due}{provisional}，请跟进。",
        ),
        "en": (
            "Ticket {ticket} SLA alert ({level})",
            "{name}: the {target} deadline of ticket {ticket} ({summary}) is {due}"
            "{provisional}. Please follow up.",
        ),
    },
    "outage_notice": {
        "zh-CN": (
            "【{estate}】{what}通知",
            "尊敬的{name}：因{title}，{units}将于{starts}至{ends}{what}，请提前做好准备。"
            "给您带来不便，敬请谅解。",
        ),
        "en": (
            "[{estate}] Planned {what_en} cut",
            "Dear {name}, because of {title}, the {what_en} supply to {units} will be cut "
            "from {starts} to {ends}. Please prepare in advance; we apologise for the "
            "inconvenience.",
        ),
    },
    "dunning_sms": {
        "zh-CN": (
            "【{estate}】物业费提醒",
            "尊敬的{name}：您名下{unit}尚有物业费等费用{amount}元未缴，"
            "请方便时到客服中心或通过线上渠道缴纳。如已缴纳请忽略。",
        ),
        "en": (
            "[{estate}] Fee reminder",
            "Dear {name}, fees of {amount} yuan for {unit} are still unpaid. Please pay at the "
            "front desk or online when convenient; ignore this if you have paid.",
        ),
    },
    "owner_welcome": {
        "zh-CN": (
            "【{estate}】欢迎入住",
            "尊敬的{name}：您已登记为{unit}的业主。如需服务请致电客服中心{hotline}。",
        ),
        "en": (
            "[{estate}] Welcome",
            "Dear {name}, you are now registered as the owner of {unit}. "
            "For service call the front desk at {hotline}.",
        ),
    },
}


def _in_locale(value: Any, locale: str) -> Any:
    """A parameter given per locale (``{"zh-CN": "…", "en": "…"}``) in the message's
    locale (zh-CN when it has none); any other value as it is."""
    if isinstance(value, Mapping) and DEFAULT_LOCALE in value:
        return value.get(locale, value[DEFAULT_LOCALE])
    return value


class Templates:
    """The templates one app renders with."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, tuple[str, str]]] = {
            name: dict(locales) for name, locales in BUILTIN_TEMPLATES.items()
        }

    def add(self, name: str, locale: str, subject: str, body: str) -> None:
        for field, text in (("subject", subject), ("body", body)):
            try:
                list(string.Formatter().parse(text))
            except ValueError as exc:
                raise ValidationError(field, text, f"is not a valid template: {exc}") from None
        self._by_name.setdefault(name, {})[locale] = (subject, body)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def render(self, name: str, locale: str, params: Mapping[str, Any]) -> tuple[str, str]:
        """Subject and body; falls back to zh-CN when the locale has no text."""
        locales = self._by_name.get(name)
        if locales is None:
            raise ValidationError("template", name, f"unknown template; known: {self.names()}")
        subject, body = locales.get(locale) or locales[DEFAULT_LOCALE]
        values = {k: _in_locale(v, locale) for k, v in params.items()}
        try:
            return subject.format_map(values), body.format_map(values)
        except KeyError as exc:
            raise ValidationError(
                "params", sorted(params), f"template {name!r} needs the parameter {exc.args[0]!r}"
            ) from None
