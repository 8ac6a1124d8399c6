import pytest

from services.common.identity import person_key
from services.common.personal import (
    Sensitive,
    mask,
    mobile_problem,
    normalise_mobile,
    normalise_resident_id,
    protect,
    resident_id_check_digit,
    resident_id_problem,
)
from tests.support.standards import gb11643_check, resident_id_from

# GB 11643-1999's own examples.
STANDARD_EXAMPLES = ["11010519491231002X", "440524188001010014"]


@pytest.mark.parametrize("number", STANDARD_EXAMPLES)
def test_standard_examples_are_valid(number):
    assert gb11643_check(number[:17]) == number[17]
    assert resident_id_check_digit(number[:17]) == number[17]
    assert resident_id_problem(number) is None


def test_lower_case_x_and_full_width_digits_are_normalised():
    assert normalise_resident_id(" 11010519491231002x ") == "11010519491231002X"
    assert normalise_resident_id("１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"


@pytest.mark.parametrize(
    "number, reason",
    [
        ("1101051949123100", "17 digits followed by a digit or X"),
        ("11010519491231002Y", "17 digits followed by a digit or X"),
        ("1101051949123100X2", "17 digits followed by a digit or X"),
        ("11010519490231002X", "birth date"),  # 31 February
        ("110105194912310021", "check digit"),
    ],
)
def test_broken_resident_ids_get_reasons_that_never_quote_them(number, reason):
    problem = resident_id_problem(number)
    assert reason in problem.en
    assert problem.zh
    for text in (problem.en, problem.zh):
        assert number not in text
        assert number[-4:] not in text


def test_birth_date_must_be_real():
    first17 = "11010519490229001"  # 1949 was not a leap year
    assert "birth date" in resident_id_problem(resident_id_from(first17)).en
    assert resident_id_problem(resident_id_from("11010519480229001")) is None


@pytest.mark.parametrize(
    "raw, number",
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
    ],
)
def test_mobile_numbers_are_normalised(raw, number):
    assert normalise_mobile(raw) == number
    assert mobile_problem(normalise_mobile(raw)) is None


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "138001380001", "0731-84714899", "1380013800a"])
def test_not_mainland_mobiles(raw):
    problem = mobile_problem(normalise_mobile(raw))
    assert "mainland" in problem.en
    assert normalise_mobile(raw) not in problem.en + problem.zh


def test_masks_for_display():
    assert mask("430102198001011234") == "430***********1234"
    assert mask("13800138000") == "138****8000"
    assert mask("1234567") == "*******"


def test_sensitive_values_keep_their_value_but_not_their_repr():
    number = Sensitive("430102198001011234")
    assert number == "430102198001011234"
    assert "430102198001011234" not in repr(number)
    assert "430102198001011234" not in repr({"id_number": number, "phone": Sensitive("13800138000")})
    assert "430***********1234" in repr(number)


def test_a_team_member_is_stored_masked_beside_the_person_key():
    member = {
        "name": "李华",
        "title": "教授",
        "role": "负责人",
        "id_number": Sensitive("11010519491231002X"),
        "phone": Sensitive("13907310000"),
    }
    stored = protect(member)
    assert (stored["id_number"], stored["phone"]) == ("110***********002X", "139****0000")
    assert stored["person_key"] == person_key("11010519491231002X") != person_key("440524188001010014")
    assert "11010519491231002X" not in repr(stored) and "13907310000" not in repr(stored)
    assert stored["name"] == "李华"
