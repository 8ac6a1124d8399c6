import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.common import credit_code
from tests.support import standards

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

# Published codes: the standard's example, Shenzhen Tencent Computer Systems (organisation
# check digit X), Huawei Technologies.
REAL_CODES = ["91350100M000100Y43", "9144030071526726XG", "914403001922038216"]


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_valid(code):
    assert standards.gb11714_check(code[8:16]) == code[16]
    assert standards.gb32100_check(code[:17]) == code[17]
    assert credit_code.problem(code) is None


def test_check_digits_match_the_standards():
    for code in REAL_CODES:
        assert credit_code.check_digit(code[:17]) == standards.gb32100_check(code[:17])
        assert credit_code.organisation_check_digit(code[8:16]) == standards.gb11714_check(code[8:16])


def test_organisation_check_digit_eleven_is_zero():
    body = next(f"{n:08d}" for n in range(10**6) if standards.gb11714_check(f"{n:08d}") == "0")
    code = standards.credit_code_from("12430100", body)
    assert code[16] == "0"
    assert credit_code.problem(code) is None


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("91350100m000100y43", "91350100M000100Y43"),
        ("  91350100M000100Y43\t", "91350100M000100Y43"),
        ("９１３５０１００Ｍ０００１００Ｙ４３", "91350100M000100Y43"),  # full-width input
    ],
)
def test_normalise_upper_cases_trims_and_folds_full_width(raw, normalised):
    assert credit_code.normalise(raw) == normalised
    assert credit_code.problem(credit_code.normalise(raw)) is None


@pytest.mark.parametrize(
    "code, en, zh",
    [
        ("91350100M000100Y4", "must be 18 characters, not 17", "应为18位，当前为17位"),
        ("91350100M000100Y433", "must be 18 characters, not 19", "当前为19位"),
        ("", "not 0", "当前为0位"),
        ("91350100M0001O0Y43", "character 14 'O' is not allowed", "第14位“O”"),
        ("9135010IM000100Y43", "character 8 'I' is not allowed", "第8位“I”"),
        ("91350100M000100Y4中", "character 18 '中' is not allowed", "第18位"),
        ("913501A0M000100Y43", "characters 3-8 (administrative division code) must be digits", "行政区划码"),
        ("91350100M000100Y53", "organisation-code check digit (character 17, GB 11714) is wrong", "组织机构代码校验码"),
        ("91350100M000100Y44", "check digit (character 18) is wrong", "校验位（第18位）错误"),
    ],
)
def test_each_broken_code_gets_its_precise_reason(code, en, zh):
    problem = credit_code.problem(code)
    assert problem is not None
    assert en in problem.en
    assert zh in problem.zh


@st.composite
def valid_codes(draw):
    authority = draw(st.sampled_from("123456789ANY"))
    category = draw(st.sampled_from("123459"))
    division = draw(st.text("0123456789", min_size=6, max_size=6))
    body = draw(st.text(ALPHABET, min_size=8, max_size=8))
    return authority + category + division, body


@settings(max_examples=200, deadline=None)
@given(parts=valid_codes(), data=st.data())
def test_any_single_substitution_is_caught(parts, data):
    code = standards.credit_code_from(*parts)
    assert credit_code.problem(code) is None
    position = data.draw(st.integers(0, 17))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != code[position]))
    broken = code[:position] + replacement + code[position + 1 :]
    assert credit_code.problem(broken) is not None
