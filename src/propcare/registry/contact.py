"""Personal contact values that mask themselves.

An owner's phone and ID-card number must not leak into logs, reprs or exports:
``str()``, ``repr()`` and ``format()`` give the masked form (138****1234);
only :meth:`reveal` gives the full value, and services call it only for actors
whose role allows it.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

from propcare.errors import ValidationError

__all__ = ["IdCardNumber", "Phone", "mask_middle"]

_PHONE_RE = re.compile(r"^\+?[0-9][0-9 \-]{4,18}[0-9]$")
_ID_RE = re.compile(r"^[0-9]{17}[0-9X]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def mask_middle(text: str, keep_start: int, keep_end: int) -> str:
    """``13812341234`` -> ``138****1234``: keep the ends, star the middle."""
    if len(text) <= keep_start + keep_end:
        return "*" * len(text)
    hidden = len(text) - keep_start - keep_end
    return text[:keep_start] + "*" * hidden + text[len(text) - keep_end :]


def mask_phone(number: str) -> str:
    """How a stored (already normalised) phone number is shown: ``138****1234``."""
    return mask_middle(number, 3, 4 if len(number) >= 8 else 2)


# What a number is once spaces, dashes and a +86 are taken away (GB/T 13400, the
# numbering plan of the mainland; other countries' numbers keep their + and code):
_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # 11 digits: 13x to 19x
_WITH_AREA_CODE = re.compile(r"0[1-9][0-9]{8,10}")  # 010-1234 5678, 0571-8888 6666
_LOCAL = re.compile(r"[2-8][0-9]{6,7}")  # a landline within its area: 7 or 8 digits
_SERVICE = re.compile(r"[48]00[0-9]{7}")  # 400 and 800 numbers
_INTERNATIONAL = re.compile(r"\+[1-9][0-9]{7,14}")  # E.164: +852 ..., +1 ...
_PHONE_RULE = (
    "must be a phone number: a mainland mobile (11 digits from 13 to 19), a landline (0 and "
    "the area code, then 7 or 8 digits; or the 7 or 8 digits alone), a 400/800 number, or + "
    "and a country code; spaces and dashes allowed"
)


def _normalise_phone(value: Any) -> str:
    if not isinstance(value, str) or not _PHONE_RE.match(value.strip()):
        raise ValidationError("phone", value, _PHONE_RULE)
    digits = re.sub(r"[ \-]", "", value.strip())
    if digits.startswith("+86"):
        digits = digits[3:]
    if digits.startswith("1") and not _MOBILE.fullmatch(digits):
        raise ValidationError("phone", value, "a mobile number is 11 digits from 13 to 19")
    rules = (_MOBILE, _WITH_AREA_CODE, _LOCAL, _SERVICE, _INTERNATIONAL)
    if not any(rule.fullmatch(digits) for rule in rules):
        raise ValidationError("phone", value, _PHONE_RULE)
    return digits


@attrs.frozen(repr=False)
class Phone:
    """A phone number, masked whenever it is shown."""

    number: str = attrs.field(converter=_normalise_phone)

    def reveal(self) -> str:
        return self.number

    @property
    def masked(self) -> str:
        return mask_phone(self.number)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"Phone({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)


def _normalise_id(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("id_card", "<hidden>", "must be an 18-character resident ID number")
    text = value.strip().upper()
    # The value itself stays out of the message: an ID number is personal data.
    if not _ID_RE.match(text):
        raise ValidationError(
            "id_card", mask_middle(text, 6, 4), "must be 17 digits and a check digit or X"
        )
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != text[17]:
        raise ValidationError("id_card", mask_middle(text, 6, 4), "check digit does not match")
    return text


@attrs.frozen(repr=False)
class IdCardNumber:
    """A PRC resident identity card number (GB 11643), checksum verified, masked."""

    number: str = attrs.field(converter=_normalise_id)

    def reveal(self) -> str:
        return self.number

    @property
    def masked(self) -> str:
        return mask_middle(self.number, 6, 4)

    def __str__(self) -> str:
        return self.masked

    def __repr__(self) -> str:
        return f"IdCardNumber({self.masked!r})"

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)
