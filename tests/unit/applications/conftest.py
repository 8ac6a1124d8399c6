"""Shared fixtures; check digits come from the standards' own algorithms (tests/support/standards.py)."""

import itertools
from types import SimpleNamespace

import pytest

from tests.support.standards import credit_code_from, gb11643_check, gb11714_check, gb32100_check, resident_id_from

_serial = itertools.count(1)


@pytest.fixture
def new_credit_code():
    """A fresh valid credit code of a public institution (事业单位, 12) in Changsha (430100)."""

    def make() -> str:
        return credit_code_from("12430100", f"{next(_serial):08d}")

    return make


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
