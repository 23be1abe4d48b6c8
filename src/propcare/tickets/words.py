"""How SLA targets and alert levels read to people, per locale.

Alerts (the SMS a supervisor gets) and the CLI's tables name a target and a level in
words, never by their codes; both read them from here so that they say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping

from propcare.sla.policy import Target

__all__ = ["LEVEL_WORDS", "TARGET_WORDS", "alert_words"]

TARGET_WORDS: Mapping[str, Mapping[str, str]] = {
    Target.RESPONSE.value: {"zh-CN": "响应", "en": "response"},
    Target.ARRIVAL.value: {"zh-CN": "到场", "en": "arrival"},
    Target.RESOLUTION.value: {"zh-CN": "处理", "en": "resolution"},
    Target.CALLBACK.value: {"zh-CN": "回访", "en": "callback"},
    "outside": {"zh-CN": "外部派单", "en": "outside order"},
}
LEVEL_WORDS: Mapping[str, Mapping[str, str]] = {
    "warning": {"zh-CN": "预警", "en": "warning"},
    "supervisor": {"zh-CN": "已超时，报主管", "en": "overdue, to the supervisor"},
    "manager": {"zh-CN": "已超时，报经理", "en": "overdue, to the manager"},
}


def alert_words(target: str, level: str, lang: str = "zh-CN") -> tuple[str, str]:
    """(target, level) in ``lang`` (zh-CN or en); a code without words stays as it is."""
    return (
        TARGET_WORDS.get(target, {}).get(lang, target),
        LEVEL_WORDS.get(level, {}).get(lang, level),
    )
