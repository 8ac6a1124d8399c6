"""The unified social credit code (统一社会信用代码), GB 32100-2015.

Eighteen characters: registration authority (1), organisation category (2), the
administrative division code (3-8), the organisation code of GB 11714 (9-17, its own
check digit at 17) and the check digit (18).
"""

from __future__ import annotations

import unicodedata

from .bilingual import Bilingual

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {character: value for value, character in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
LENGTH = 18


def normalise(raw: str) -> str:
    """Full-width characters to ASCII, surrounding blanks removed, letters upper-cased."""
    return unicodedata.normalize("NFKC", raw).strip().upper()


def check_digit(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters."""
    total = sum(_VALUE[c] * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def organisation_check_digit(body8: str) -> str:
    """The GB 11714 check character for the 8-character organisation code body."""
    total = sum(int(c, 36) * w for c, w in zip(body8, _ORGANISATION_WEIGHTS, strict=True))
    digit = 11 - total % 11
    return {10: "X", 11: "0"}.get(digit, str(digit))


def problem(code: str) -> Bilingual | None:
    """Why a normalised code is not valid, or None when it is."""
    if len(code) != LENGTH:
        return Bilingual(
            f"credit code must be {LENGTH} characters, not {len(code)}",
            f"统一社会信用代码应为{LENGTH}位，当前为{len(code)}位",
        )
    for position, character in enumerate(code, start=1):
        if character not in _VALUE:
            return Bilingual(
                f"credit code character {position} '{character}' is not allowed "
                "(digits and upper-case letters except I, O, S, V, Z)",
                f"统一社会信用代码第{position}位“{character}”不是允许的字符（数字及除I、O、S、V、Z以外的大写字母）",
            )
    if not code[2:8].isdigit():
        return Bilingual(
            "credit code characters 3-8 (administrative division code) must be digits",
            "统一社会信用代码第3至8位（登记管理机关行政区划码）应为数字",
        )
    if organisation_check_digit(code[8:16]) != code[16]:
        return Bilingual(
            "credit code organisation-code check digit (character 17, GB 11714) is wrong",
            "统一社会信用代码中组织机构代码校验码（第17位）错误",
        )
    if check_digit(code[:17]) != code[17]:
        return Bilingual(
            "credit code check digit (character 18) is wrong",
            "统一社会信用代码校验位（第18位）错误",
        )
    return None
