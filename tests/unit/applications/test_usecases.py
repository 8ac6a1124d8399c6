"""The applications use cases on the in-memory store (tests/unit/applications/fakes.py): what the
institutions, the recommending authorities and the province see of the rules that otherwise
need the whole platform. Each test reads the replies, the stored states and the events."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from services.applications.domain.messages import (
    ApplicationLimitReached,
    DecisionReasonRequired,
    FieldsRefused,
    NotFound,
    NotRecommender,
    QuotaExceeded,
    RecommendationCapReached,
    RuleNotOverridable,
)
from services.common.actor import Actor
from services.applications.domain.reserve import reserve_valid_until
from services.applications.usecases import applications, calls, institutions, selection
from services.common.statemachine import TransitionNotAllowed
from tests.unit.applications.fakes import FakeApplicationsStore

AT = datetime(2025, 3, 3, 1, tzinfo=timezone.utc)
CLOSED = AT + timedelta(days=31)  # after the window
PROVINCE = Actor(role="province", sub="office")
CHANGSHA, HENGYANG, LOUDI = "长沙市", "衡阳市", "娄底市"
RUBRIC = [{"code": "plan", "name": "建设方案", "weight": 100, "max_score": 100}]
_codes = itertools.count(1)


def bureau(prefecture: str) -> Actor:
    return Actor(role="prefecture", sub=f"bureau-{prefecture}", prefecture=prefecture)


@pytest.fixture
def store():
    return FakeApplicationsStore()


def an_institution(store, prefecture=CHANGSHA, kind="higher_vocational", name=None) -> Actor:
    """A registered institution, as the actor it signs in as."""
    number = next(_codes)
    registered = institutions.register(
        store,
        {
            "name": name or f"{prefecture}第{number}职业技术学院",
            "type": kind,
            "prefecture": prefecture,
            "county": "某县",
            "sponsor": f"{prefecture}人民政府",
            "credit_code": f"CC{number:016d}",
        },
        PROVINCE,
        AT,
    )
    return Actor(role="institution", sub=f"user-{number}", institution_id=registered["id"])


def a_call(store, category="hv-group", **terms) -> dict:
    """An open call (it opened a day ago) of the province, closing in thirty days."""
    return calls.create(
        store,
        {
            "category": category,
            "title": "2025年楚怡高水平专业群遴选",
            "opens_at": AT - timedelta(days=1),
            "closes_at": AT + timedelta(days=30),
            "quota": 2,
            "prefecture_cap": 2,
            "per_institution_limit": 1,
            "budget_min_fen": 100_000_00,
            "budget_max_fen": 5_000_000_00,
            "review_plan": {
                "reviewers_per_application": 3,
                "rubric": RUBRIC,
                "conflict_same_prefecture": True,
                "conflict_own_institution_applied": True,
            },
            "funding_rule": "tiered-v1",
            "required_materials": [],
            **terms,
        },
        PROVINCE,
        AT,
    )


def a_draft(store, institution: Actor, call: dict, **fields) -> dict:
    return applications.open_draft(
        store,
        {
            "call_id": call["id"],
            "title": "智能制造专业群建设",
            "summary": "对接湖南工程机械产业集群",
            "construction_plan": "一、建设目标",
            "budget_request_fen": 2_000_000_00,
            "industry_fields": ["46"],
            "yearly_targets": [{"year": 2026, "target": "完成实训基地建设"}],
            **fields,
        },
        institution,
        AT,
    )


def submitted(store, institution: Actor, call: dict, **fields) -> dict:
    return applications.submit(store, a_draft(store, institution, call, **fields)["id"], institution, AT)


def names(store) -> list[str]:
    return store.emitted_names()


# --- the recommendation cap per recommending authority --------------------------------------


def test_a_prefecture_recommends_at_most_the_calls_cap_and_other_prefectures_have_their_own(store):
    call = a_call(store, prefecture_cap=2)
    first, second, third = (submitted(store, an_institution(store, CHANGSHA), call) for _ in range(3))
    hengyang = submitted(store, an_institution(store, HENGYANG), call)
    changsha = bureau(CHANGSHA)

    assert applications.recommend(store, first["id"], changsha, None, AT)["state"] == "recommended"
    assert applications.recommend(store, second["id"], changsha, "方案扎实", AT)["state"] == "recommended"
    before = len(store.emitted)
    with pytest.raises(RecommendationCapReached) as refused:
        applications.recommend(store, third["id"], changsha, None, AT)
    assert refused.value.message.en == "the recommendation cap of 2 for this call is reached"
    assert refused.value.message.zh == "已达到本批次推荐名额上限（2项）"
    assert store.applications[third["id"]]["state"] == "submitted" and len(store.emitted) == before

    assert applications.recommend(store, hengyang["id"], bureau(HENGYANG), None, AT)["state"] == "recommended"
    assert names(store).count("application_recommended") == 3


def test_a_withdrawn_recommendation_gives_its_place_back_and_a_refused_one_took_none(store):
    call = a_call(store, prefecture_cap=1)
    owners = [an_institution(store, CHANGSHA) for _ in range(3)]
    first, second, third = (submitted(store, owner, call) for owner in owners)
    changsha = bureau(CHANGSHA)
    applications.recommend(store, first["id"], changsha, None, AT)
    with pytest.raises(RecommendationCapReached):
        applications.recommend(store, second["id"], changsha, None, AT)

    withdrawn = applications.withdraw(store, first["id"], owners[0], "学校调整方向", AT)
    assert withdrawn["state"] == "withdrawn"
    assert store.emitted[-1][0] == "application_withdrawn"
    assert store.emitted[-1][2]["from_state"] == "recommended" and store.emitted[-1][2]["reason"] == "学校调整方向"

    assert applications.recommend(store, second["id"], changsha, None, AT)["state"] == "recommended"
    with pytest.raises(RecommendationCapReached):  # exactly one place came back
        applications.recommend(store, third["id"], changsha, None, AT)


def test_a_decline_takes_no_place_and_a_declined_application_cannot_be_recommended_after(store):
    call = a_call(store, prefecture_cap=1)
    first, second = (submitted(store, an_institution(store, CHANGSHA), call) for _ in range(2))
    changsha = bureau(CHANGSHA)

    declined = applications.decline(store, first["id"], changsha, "不符合本地产业布局", AT)
    assert declined["state"] == "declined" and declined["history"][-1]["reason"] == "不符合本地产业布局"
    assert store.emitted[-1][0] == "application_declined" and store.emitted[-1][2]["by"] == "prefecture:bureau-长沙市"
    assert applications.recommend(store, second["id"], changsha, None, AT)["state"] == "recommended"
    with pytest.raises(TransitionNotAllowed):
        applications.recommend(store, first["id"], changsha, None, AT)


def test_withdrawing_a_draft_frees_the_institutions_place_in_the_call(store):
    call = a_call(store)
    owner = an_institution(store)
    draft = a_draft(store, owner, call)
    applications.withdraw(store, draft["id"], owner, None, AT)
    assert a_draft(store, owner, call)["state"] == "draft"  # the one application it may hold


def test_a_technician_school_is_recommended_by_its_hrss_sponsor_not_the_prefecture(store):
    sponsor = "湖南省人力资源和社会保障厅"
    school = institutions.register(
        store,
        {
            "name": "长沙技师学院",
            "type": "technician",
            "prefecture": CHANGSHA,
            "county": "雨花区",
            "sponsor": sponsor,
            "credit_code": f"CC{next(_codes):016d}",
        },
        PROVINCE,
        AT,
    )
    owner = Actor(role="institution", sub="user-tech", institution_id=school["id"])
    application = submitted(store, owner, a_call(store, "tech-school", prefecture_cap=1))
    assert application["recommender"] == {"kind": "hrss", "authority": sponsor}

    with pytest.raises(NotRecommender) as refused:
        applications.recommend(store, application["id"], bureau(CHANGSHA), None, AT)
    assert "HRSS" in refused.value.message.en and "人力资源社会保障" in refused.value.message.zh
    other_hrss = Actor(role="hrss", sub="hrss-hy", sponsor="衡阳市人力资源和社会保障局")
    with pytest.raises(NotFound):  # another sponsor's school is not in its sight
        applications.recommend(store, application["id"], other_hrss, None, AT)
    assert store.applications[application["id"]]["state"] == "submitted"
    assert "application_recommended" not in names(store)

    hrss = Actor(role="hrss", sub="hrss-province", sponsor=sponsor)
    assert applications.recommend(store, application["id"], hrss, None, AT)["state"] == "recommended"
    name, subject, data = store.emitted[-1]
    assert (name, subject) == ("application_recommended", application["id"]) and data["by"].startswith("hrss:")


def test_a_draft_cannot_be_recommended(store):
    owner = an_institution(store)
    draft = a_draft(store, owner, a_call(store))
    with pytest.raises(TransitionNotAllowed):
        applications.recommend(store, draft["id"], bureau(CHANGSHA), None, AT)
    assert store.applications[draft["id"]]["state"] == "draft" and names(store) == ["call_opened"]


# --- one application per institution, or the call's limit --------------------------------------


def test_one_application_per_institution_per_call_in_school_specialty_base_and_group_categories(store):
    call = a_call(store, per_institution_limit=3)  # a school-level category takes one whatever the call says
    owner = an_institution(store)
    a_draft(store, owner, call)
    with pytest.raises(ApplicationLimitReached) as refused:
        a_draft(store, owner, call)
    assert refused.value.message.en == "the institution already has 1 application(s) in this call; the limit is 1"
    assert refused.value.message.zh == "本单位在该批次已有1项申报，限报1项"
    assert len(store.applications) == 1


def test_person_categories_take_up_to_the_calls_per_institution_limit_and_a_withdrawal_frees_a_place(store):
    call = a_call(store, "master-teacher", per_institution_limit=2)
    owner = an_institution(store)
    first, _ = (a_draft(store, owner, call) for _ in range(2))
    with pytest.raises(ApplicationLimitReached) as refused:
        a_draft(store, owner, call)
    assert "the limit is 2" in refused.value.message.en and "限报2项" in refused.value.message.zh
    applications.withdraw(store, first["id"], owner, None, AT)
    assert a_draft(store, owner, call)["state"] == "draft"
    assert len(store.applications) == 3


CATEGORY_FIELDS = {
    "edu-group": {
        "lead_organisation": {"name": "湖南省装备制造职教集团", "kind": "school"},
        "member_organisations": [{"name": "三一重工股份有限公司", "kind": "enterprise"}],
    },
    "workshop": {
        "team_members": [
            {
                "name": "李华",
                "title": "教授",
                "role": "负责人",
                "id_number": "430102198001011234",
                "phone": "13800138000",
            }
        ],
        "enterprise_partner": {"name": "湖南湘绣城有限公司", "credit_code": "91430100MA4L000000"},
    },
}


@pytest.mark.parametrize("category", sorted(CATEGORY_FIELDS))
def test_each_category_takes_its_own_fields(store, category):
    fields = CATEGORY_FIELDS[category]
    owner = an_institution(store)
    draft = a_draft(store, owner, a_call(store, category), **fields)
    assert all(draft[name] for name in fields)

    with pytest.raises(FieldsRefused) as refused:
        a_draft(store, owner, a_call(store, "hv-group"), **fields)
    assert set(refused.value.errors) == set(fields)
    assert all(m.en.startswith("hv-group applications have no") for ms in refused.value.errors.values() for m in ms)
    assert list(store.applications) == [draft["id"]]


# --- a call's quota -----------------------------------------------------------------------------


def test_a_calls_quota_is_at_most_what_is_left_of_its_category(store):
    a_call(store, "vu-school", quota=2, prefecture_cap=1)  # vu-school's quota is 3
    before = dict(store.calls)
    with pytest.raises(QuotaExceeded) as refused:
        a_call(store, "vu-school", quota=2, prefecture_cap=1)
    assert "more than the 1 left" in refused.value.message.en and "剩余名额1" in refused.value.message.zh
    assert store.calls == before and store.category_quotas["vu-school"] == {"selected": 0, "held": 2}
    assert a_call(store, "vu-school", quota=1, prefecture_cap=1)["state"] == "open"


# --- submitting ---------------------------------------------------------------------------------


def test_submitting_without_a_material_kind_the_call_requires_is_refused_naming_it(store):
    call = a_call(store, required_materials=["application_form", "construction_plan"])
    owner = an_institution(store)
    draft = a_draft(store, owner, call)
    store.file(draft["id"], "application_form")

    with pytest.raises(FieldsRefused) as refused:
        applications.submit(store, draft["id"], owner, AT)
    [message] = refused.value.errors["materials"]
    assert "construction_plan (construction plan)" in message.en and "application_form" not in message.en
    assert message.zh == "本批次要求上传以下材料：建设方案"
    assert store.applications[draft["id"]]["state"] == "draft" and "application_submitted" not in names(store)

    store.file(draft["id"], "construction_plan")
    answer = applications.submit(store, draft["id"], owner, AT)
    assert answer["state"] == "submitted" and answer["submitted_at"] == AT
    assert [f["rule"] for f in answer["eligibility_findings"] if not f["passed"]] == []
    name, subject, data = store.emitted[-1]
    assert (name, subject, data["recommender"]) == (
        "application_submitted",
        draft["id"],
        {"kind": "prefecture_bureau", "authority": CHANGSHA},
    )


# --- the province's eligibility decision --------------------------------------------------------


def recommended(store, call, **fields) -> dict:
    institution_kind = fields.pop("kind", "higher_vocational")
    application = submitted(store, an_institution(store, CHANGSHA, institution_kind), call, **fields)
    return applications.recommend(store, application["id"], bureau(CHANGSHA), None, AT)


def test_confirming_findings_that_all_pass_makes_the_application_eligible_for_review(store):
    application = recommended(store, a_call(store))
    decided = applications.decide_eligibility(store, application["id"], PROVINCE, True, None, AT)
    assert decided["state"] == "eligible" and decided["eligibility_decision"]["overridden"] is False
    name, _, data = store.emitted[-1]
    assert name == "eligibility_checked" and data["eligible"] is True and data["overridden"] is False
    assert (
        data["applicant"]["institution_type"] == "higher_vocational"
        and data["applicant"]["title"] == "智能制造专业群建设"
    )


def test_overriding_a_failed_finding_needs_a_reason_and_then_is_told_to_review(store):
    application = recommended(store, a_call(store), budget_request_fen=9_000_000_00)  # above the call's range
    shown = applications.show(store, application["id"], PROVINCE)
    assert [f["rule"] for f in shown["eligibility_findings"] if not f["passed"]] == ["budget_range"]

    with pytest.raises(DecisionReasonRequired) as refused:
        applications.decide_eligibility(store, application["id"], PROVINCE, True, "  ", AT)
    assert refused.value.message.zh == "推翻自动审查结果须说明理由" and "budget_range" in refused.value.message.en
    assert store.applications[application["id"]]["state"] == "recommended"
    assert "eligibility_checked" not in names(store)

    decided = applications.decide_eligibility(store, application["id"], PROVINCE, True, "省里同意超额", AT)
    assert decided["state"] == "eligible"
    assert store.emitted[-1][2]["overridden"] is True and store.emitted[-1][2]["reason"] == "省里同意超额"


def test_the_notices_institution_type_rule_cannot_be_overridden_only_confirmed(store):
    application = recommended(store, a_call(store), kind="secondary_vocational")
    with pytest.raises(RuleNotOverridable) as refused:
        applications.decide_eligibility(store, application["id"], PROVINCE, True, "情况特殊", AT)
    assert refused.value.message.zh.startswith("通知规定的申报条件不可推翻")
    decided = applications.decide_eligibility(store, application["id"], PROVINCE, False, None, AT)
    assert decided["state"] == "ineligible" and store.emitted[-1][2]["eligible"] is False


def by_rule(application: dict) -> dict:
    return {f["rule"]: f for f in application["eligibility_findings"]}


def test_submission_runs_the_automatic_rules_with_readable_reasons(store):
    secondary = an_institution(store, LOUDI, "secondary_vocational", name="新化县楚怡工业学校")
    application = submitted(store, secondary, a_call(store), budget_request_fen=1, construction_plan="")
    findings = by_rule(application)
    assert set(findings) == {"institution_type", "required_fields", "budget_range", "institution_limit"}
    assert not findings["institution_type"]["passed"]
    assert (
        findings["institution_type"]["reason_zh"]
        == "单位类型“中职”不符合“楚怡高水平高职高专专业群”的申报条件（限高职专科）"
    )
    assert not findings["required_fields"]["passed"] and "construction_plan" in findings["required_fields"]["reason_en"]
    assert not findings["budget_range"]["passed"] and "0.01" in findings["budget_range"]["reason_en"]
    assert findings["institution_limit"]["passed"]
    assert application["state"] == "submitted"
    assert store.applications[application["id"]]["eligibility_findings"] == application["eligibility_findings"]


def sv_prefecture_schools(store, count: int) -> list[Actor]:
    return [an_institution(store, LOUDI, "secondary_vocational") for _ in range(count)]


def test_one_per_prefecture_takes_exactly_one_school_of_each_prefecture(store):
    call = a_call(store, "sv-prefecture", prefecture_cap=1)
    first, second = (submitted(store, school, call) for school in sv_prefecture_schools(store, 2))
    assert by_rule(first)["one_per_prefecture"]["passed"] and not by_rule(second)["one_per_prefecture"]["passed"]
    assert "每个市州限一所" in by_rule(second)["one_per_prefecture"]["reason_zh"]

    applications.decline(store, second["id"], bureau(LOUDI), "市州推荐一所", AT)
    applications.recommend(store, first["id"], bureau(LOUDI), None, AT)
    decided = applications.decide_eligibility(store, first["id"], PROVINCE, True, None, AT)
    assert by_rule(decided)["one_per_prefecture"]["passed"] and decided["state"] == "eligible"
    assert decided["eligibility_decision"]["overridden"] is False


def test_the_findings_shown_before_the_decision_follow_the_other_schools_declines(store):
    call = a_call(store, "sv-prefecture", prefecture_cap=1)
    first, second = (submitted(store, school, call) for school in sv_prefecture_schools(store, 2))
    assert not by_rule(second)["one_per_prefecture"]["passed"]
    applications.decline(store, first["id"], bureau(LOUDI), "市州推荐另一所", AT)
    shown = applications.show(store, second["id"], PROVINCE)
    assert by_rule(shown)["one_per_prefecture"]["passed"], "with the other school declined, the rule passes now"


# --- review's progress: the selection finalized -------------------------------------------------


def test_a_finalized_selection_establishes_the_approved_as_projects_and_keeps_the_reserve_list(store):
    call = a_call(store, quota=2, prefecture_cap=3)
    eligible = []
    for prefecture in (CHANGSHA, HENGYANG, LOUDI):
        application = submitted(store, an_institution(store, prefecture), call)
        applications.recommend(store, application["id"], bureau(prefecture), None, AT)
        eligible.append(applications.decide_eligibility(store, application["id"], PROVINCE, True, None, AT))
    first, second, third = eligible
    assert store.category_quotas["hv-group"] == {"selected": 0, "held": 2}

    assert calls.advance_due(store, CLOSED) == 1
    assert store.emitted[-1][0] == "call_closed" and store.emitted[-1][2]["submitted_count"] == 3

    deadline = (CLOSED + timedelta(days=10)).isoformat()
    store.atomic(
        lambda: selection.experts_assigned(
            store,
            {
                "call_id": call["id"],
                "assignments": [
                    {
                        "application_id": a["id"],
                        "expert_id": "exp_1",
                        "assignment_id": f"asg_{a['id']}",
                        "review_deadline": deadline,
                    }
                    for a in eligible
                ],
            },
            CLOSED,
            "review.experts_assigned evt_1",
        )
    )
    assert store.calls[call["id"]]["state"] == "in_review"
    assert {store.applications[a["id"]]["state"] for a in eligible} == {"in_review"}
    store.atomic(lambda: selection.notice_published(store, call["id"], CLOSED, "review.notice_published evt_2"))

    finalized_at = CLOSED + timedelta(days=20)
    data = {
        "call_id": call["id"],
        "category": "hv-group",
        "funding_rule": "tiered-v1",
        "quota": 2,
        "approved": [
            {
                "application_id": a["id"],
                "institution_id": a["institution_id"],
                "prefecture": a["prefecture"],
                "rank": rank,
                "title": a["title"],
                "budget_request_fen": a["budget_request_fen"],
            }
            for rank, a in enumerate((first, second), 1)
        ],
        "reserve": [{"application_id": third["id"], "prefecture": LOUDI, "rank": 3, "reserve_position": 1}],
    }
    before = len(store.emitted)
    store.atomic(lambda: selection.selection_finalized(store, data, finalized_at, "review.selection_finalized evt_3"))

    assert store.calls[call["id"]]["state"] == "finalized"
    assert store.calls[call["id"]]["reserve_valid_until"] == reserve_valid_until(finalized_at)
    assert [store.applications[a["id"]]["state"] for a in eligible] == ["approved", "approved", "not_selected"]
    assert {pid: (p["state"], p["rank"], p["prefecture"]) for pid, p in store.projects.items()} == {
        first["id"]: ("established", 1, CHANGSHA),
        second["id"]: ("established", 2, HENGYANG),
    }
    assert [(name, subject) for name, subject, _ in store.emitted[before:]] == [
        ("project_established", first["id"]),
        ("project_established", second["id"]),
    ]
    assert store.category_quotas["hv-group"] == {"selected": 2, "held": 0}  # the call's hold became selections

    again = len(store.emitted)
    store.atomic(lambda: selection.selection_finalized(store, data, finalized_at, "review.selection_finalized evt_4"))
    assert len(store.emitted) == again and store.category_quotas["hv-group"] == {"selected": 2, "held": 0}
