"""Personal identifiers: resident ID numbers (GB 11643) and mainland mobile numbers.

They are personal data: messages never quote them, and `Sensitive` keeps them out of
reprs and logs. Show them with `mask`. They are stored only masked, beside the person
key (services.common.identity) that lets services recognise the same person: the raw
numbers never reach the database.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from typing import Any

from services.common.bilingual import Bilingual
from services.common.identity import person_key

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_MOBILE_SEPARATORS = re.compile(r"[\s-]")
_COUNTRY_PREFIX = re.compile(r"^(\+86|0086)")


class Sensitive(str):
    """A personal identifier: its value is the raw text, its repr is masked."""

    def __repr__(self) -> str:
        return f"Sensitive({mask(self)!r})"


def mask(value: str) -> str:
    """Keep the first 3 and last 4 characters: 430***********1234, 138****5678."""
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def normalise_resident_id(raw: str) -> str:
    return unicodedata.normalize("NFKC", raw).strip().upper()


def resident_id_check_digit(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _birth_date_is_real(digits: str) -> bool:
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return True


def resident_id_problem(value: str) -> Bilingual | None:
    """Why a normalised resident ID number is not valid, or None when it is."""
    if not _ID_SHAPE.match(value):
        return Bilingual(
            "resident ID number must be 17 digits followed by a digit or X",
            "居民身份证号码应为17位数字加1位数字或X",
        )
    if not _birth_date_is_real(value[6:14]):
        return Bilingual(
            "resident ID number birth date (characters 7-14) is not a real date",
            "居民身份证号码中的出生日期（第7至14位）无效",
        )
    if resident_id_check_digit(value[:17]) != value[17]:
        return Bilingual(
            "resident ID number check digit (character 18) is wrong",
            "居民身份证号码校验码（第18位）错误",
        )
    return None


def normalise_mobile(raw: str) -> str:
    """Drop blanks, hyphens and a +86 / 0086 country prefix."""
    compact = _MOBILE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    return _COUNTRY_PREFIX.sub("", compact)


def mobile_problem(value: str) -> Bilingual | None:
    if _MOBILE.match(value):
        return None
    return Bilingual(
        "mobile number must be a mainland number: 11 digits starting 13-19",
        "手机号码应为11位中国大陆手机号（以13至19开头）",
    )


def protect(member: Mapping[str, Any]) -> dict[str, Any]:
    """A team member as stored: ID number and phone masked, the person key beside them."""
    return {
        **member,
        "id_number": mask(member["id_number"]),
        "phone": mask(member["phone"]),
        "person_key": person_key(member["id_number"]),
    }
