import copy

import pytest
import yaml

from services.contracts.catalogue import (
    CATALOGUE_PATH,
    CORE_FIELDS,
    CatalogueError,
    UnknownCategory,
    catalogue,
    load_catalogue,
    parse_catalogue,
)
from services.contracts.reference import PREFECTURES

# 湘教发〔2022〕7号, section 二: what each category must reach by 2025.
NOTICE_QUOTAS = {
    "heritage-base": 20,
    "vu-school": 3,
    "hv-school": 10,
    "sv-excellent": 10,
    "sv-prefecture": 14,
    "tech-school": 5,
    "vu-group": 10,
    "hv-group": 100,
    "sv-specialty": 100,
    "tech-specialty": 10,
    "training-base": 80,
    "edu-group": 30,
    "master-teacher": 300,
    "innovation-team": 400,
    "master-studio": 300,
    "workshop": 100,
}


@pytest.fixture
def data():
    return yaml.safe_load(CATALOGUE_PATH.read_text(encoding="utf-8"))


def test_shipped_catalogue_holds_the_notice_quotas_to_2025():
    shipped = catalogue()
    assert shipped.quota_year == 2025
    assert {c.code: c.quota for c in shipped} == NOTICE_QUOTAS


def test_categories_name_their_applicants_and_levels():
    shipped = catalogue()
    assert shipped["tech-school"].institution_types == ("technician",)
    assert shipped["vu-group"].institution_types == ("vocational_undergraduate",)
    assert shipped["sv-prefecture"].one_per_prefecture
    assert [c.code for c in shipped if c.one_per_prefecture] == ["sv-prefecture"]
    several = {c.code for c in shipped if not c.one_per_institution}
    assert several == {"master-teacher", "innovation-team", "master-studio", "workshop"}
    assert {c.applicant for c in shipped if c.code in {"master-studio", "workshop"}} == {"joint"}
    assert shipped["edu-group"].applicant == "group"
    assert shipped["heritage-base"].name_zh == "楚怡文化传承基地（楚怡职业教育文化馆）"


def test_required_fields_depend_on_the_category():
    shipped = catalogue()
    assert shipped["hv-school"].submission_fields == CORE_FIELDS
    assert set(shipped["edu-group"].submission_fields) - set(CORE_FIELDS) == {
        "lead_organisation",
        "member_organisations",
    }
    assert set(shipped["workshop"].submission_fields) - set(CORE_FIELDS) == {"team_members", "enterprise_partner"}
    assert "team_members" not in shipped["hv-school"].allowed_fields
    assert "performance_indicators" in shipped["hv-school"].allowed_fields


def test_unknown_category_is_named():
    with pytest.raises(UnknownCategory, match="no category 'think-tank'"):
        catalogue()["think-tank"]
    assert "think-tank" not in catalogue()
    assert "workshop" in catalogue()


def _break(data, target, changes):
    broken = copy.deepcopy(data)
    entry = next(e for e in broken["categories"] if e["code"] == target)
    for key, value in changes.items():
        if value is None:
            del entry[key]
        else:
            entry[key] = value
    return broken


@pytest.mark.parametrize(
    "code, changes, problem",
    [
        ("vu-school", {"quota": 0}, "quota must be a positive integer"),
        ("vu-school", {"quota": "3"}, "quota must be a positive integer"),
        ("vu-school", {"quota": True}, "quota must be a positive integer"),
        ("vu-school", {"quota": None}, "lacks 'quota'"),
        ("vu-school", {"deadline": "2025"}, "unknown key 'deadline'"),
        ("vu-school", {"institution_types": ["university"]}, "unknown institution type 'university'"),
        ("vu-school", {"institution_types": []}, "institution_types must be a non-empty list"),
        ("vu-school", {"applicant": "company"}, "applicant must be one of"),
        ("vu-school", {"level": "province"}, "level must be one of"),
        ("vu-school", {"level": "person"}, "level 'person' does not fit applicant 'institution'"),
        ("vu-school", {"one_per_institution": False}, "one_per_institution must be True for level 'school'"),
        ("master-teacher", {"one_per_institution": True}, "one_per_institution must be False for level 'person'"),
        ("vu-school", {"one_per_prefecture": "yes"}, "one_per_prefecture must be true or false"),
        ("sv-prefecture", {"quota": 13}, "one per prefecture means a quota of 14"),
        ("workshop", {"required_fields": ["team_members"]}, "needs required field 'enterprise_partner'"),
        ("edu-group", {"required_fields": ["lead_organisation", "budget"]}, "unknown category field 'budget'"),
        ("vu-school", {"name_zh": " "}, "name_zh must be non-empty text"),
        ("vu-school", {"code": "VU School"}, "code must be lower-case words"),
        ("hv-school", {"code": "vu-school"}, "code 'vu-school' is used twice"),
    ],
)
def test_broken_catalogue_fails_loudly_naming_the_problem(data, code, changes, problem):
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(_break(data, code, changes))
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_every_problem_is_listed_at_once(data):
    broken = _break(_break(data, "vu-school", {"quota": -1}), "hv-school", {"applicant": "company"})
    with pytest.raises(CatalogueError) as caught:
        parse_catalogue(broken)
    assert len(caught.value.problems) == 2
    assert "vu-school" in str(caught.value) and "hv-school" in str(caught.value)


def test_unreadable_or_misshapen_files_fail(tmp_path, data):
    missing = tmp_path / "none.yaml"
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(missing)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("categories: [\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="cannot read"):
        load_catalogue(bad_yaml)
    with pytest.raises(CatalogueError, match="exactly 'quota_year' and 'categories'"):
        parse_catalogue({"categories": data["categories"]})
    with pytest.raises(CatalogueError, match="non-empty list"):
        parse_catalogue({"quota_year": 2025, "categories": []})


def test_prefectures_are_the_fourteen_of_hunan():
    assert len(set(PREFECTURES)) == 14
    assert PREFECTURES[0] == "长沙市" and PREFECTURES[-1] == "湘西土家族苗族自治州"
