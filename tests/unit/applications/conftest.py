"""Shared fixtures. The check-digit algorithms here are written independently of the code
under test, from the standards' definitions (weights as powers of 3 mod 31 for GB 32100,
2 mod 11 for GB 11714 and GB 11643)."""
import itertools
from types import SimpleNamespace

import pytest

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def gb32100_check(first17: str) -> str:
    weighted = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return USCC_ALPHABET[-weighted % 31]


def gb11714_check(body8: str) -> str:
    weighted = sum(int(c, 36) * pow(2, 8 - i, 11) for i, c in enumerate(body8))
    value = -weighted % 11
    return "X" if value == 10 else str(value)


def gb11643_check(first17: str) -> str:
    weighted = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    return "10X98765432"[weighted % 11]


def credit_code_from(prefix8: str, body8: str) -> str:
    """prefix8: authority, category and division code (positions 1-8); body8: the
    organisation code body; both check digits are computed."""
    first17 = prefix8 + body8 + gb11714_check(body8)
    return first17 + gb32100_check(first17)


_serial = itertools.count(1)


@pytest.fixture
def new_credit_code():
    """A fresh valid credit code of a public institution (事业单位, 12) in Changsha (430100)."""

    def make() -> str:
        return credit_code_from("12430100", f"{next(_serial):08d}")

    return make


def resident_id_from(first17: str) -> str:
    return first17 + gb11643_check(first17)


@pytest.fixture
def institution_row(new_credit_code):
    def make(**overrides) -> dict:
        row = {
            "name": "湖南工业职业技术学院",
            "type": "higher_vocational",
            "prefecture": "长沙市",
            "county": "岳麓区",
            "sponsor": "湖南省教育厅",
            "credit_code": new_credit_code(),
        }
        return {**row, **overrides}

    return make


@pytest.fixture
def team_member():
    def make(**overrides) -> dict:
        member = {
            "name": "李华",
            "title": "教授",
            "role": "负责人",
            "id_number": resident_id_from("43010219800101123"),
            "phone": "13800138000",
        }
        return {**member, **overrides}

    return make


@pytest.fixture(scope="session")
def standards():
    return SimpleNamespace(
        gb32100_check=gb32100_check,
        gb11714_check=gb11714_check,
        gb11643_check=gb11643_check,
        credit_code_from=credit_code_from,
        resident_id_from=resident_id_from,
    )
