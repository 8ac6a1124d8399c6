import pytest

from services.contracts.reference import Institution
from services.applications.domain.messages import NotRecommender, RecommendationCapReached
from services.applications.domain.recommendation import (
    Actor,
    check_may_recommend,
    check_recommendation_cap,
    may_recommend,
)

COLLEGE = Institution(
    name="长沙职业技术学院",
    type="higher_vocational",
    prefecture="长沙市",
    county="长沙县",
    sponsor="长沙市人民政府",
    credit_code="12430100000000011X",
)
TECHNICIAN_SCHOOL = Institution(
    name="湖南省交通技师学院",
    type="technician",
    prefecture="长沙市",
    county="雨花区",
    sponsor="湖南省人力资源和社会保障厅",
    credit_code="124300000000000123",
)
CHANGSHA_BUREAU = Actor("prefecture", "u-cs", prefecture="长沙市")
ZHUZHOU_BUREAU = Actor("prefecture", "u-zz", prefecture="株洲市")
PROVINCIAL_HRSS = Actor("hrss", "u-hrss", sponsor="湖南省人力资源和社会保障厅")


def test_recommender_is_the_prefecture_bureau_or_the_hrss_sponsor():
    assert COLLEGE.recommender.as_dict() == {"kind": "prefecture_bureau", "authority": "长沙市"}
    assert TECHNICIAN_SCHOOL.recommender.as_dict() == {"kind": "hrss", "authority": "湖南省人力资源和社会保障厅"}
    assert COLLEGE.recommender.key != TECHNICIAN_SCHOOL.recommender.key


@pytest.mark.parametrize(
    "actor, institution, allowed",
    [
        (CHANGSHA_BUREAU, COLLEGE, True),
        (ZHUZHOU_BUREAU, COLLEGE, False),
        (PROVINCIAL_HRSS, COLLEGE, False),
        (CHANGSHA_BUREAU, TECHNICIAN_SCHOOL, False),  # same prefecture, but HRSS recommends 技工院校
        (PROVINCIAL_HRSS, TECHNICIAN_SCHOOL, True),
        (Actor("hrss", "u2", sponsor="长沙市人力资源和社会保障局"), TECHNICIAN_SCHOOL, False),
        (Actor("institution", "u3", institution_id="i1"), COLLEGE, False),
        (Actor("province", "u4"), COLLEGE, False),
        (Actor("prefecture", "u5"), COLLEGE, False),  # no prefecture scope in the token
    ],
)
def test_who_may_recommend(actor, institution, allowed):
    assert may_recommend(actor, institution.recommender) is allowed
    if allowed:
        check_may_recommend(actor, institution.recommender)
    else:
        with pytest.raises(NotRecommender) as caught:
            check_may_recommend(actor, institution.recommender)
        assert "HRSS" in caught.value.message.en and "人力资源社会保障" in caught.value.message.zh


def test_recommendation_cap():
    check_recommendation_cap(cap=3, recommended_count=2)
    with pytest.raises(RecommendationCapReached) as caught:
        check_recommendation_cap(cap=3, recommended_count=3)
    assert caught.value.message.en == "the recommendation cap of 3 for this call is reached"
    assert "3项" in caught.value.message.zh


def test_institution_from_a_stored_record_ignores_other_keys():
    record = {
        "_id": "x",
        "id": "i1",
        "name": "株洲职业技术学院",
        "type": "higher_vocational",
        "prefecture": "株洲市",
        "county": "天元区",
        "sponsor": "株洲市人民政府",
        "credit_code": "C",
        "created_at": None,
    }
    institution = Institution.from_record(record)
    assert institution.id == "i1"
    assert may_recommend(ZHUZHOU_BUREAU, institution.recommender)
