"""Recommendation by the competent authority, within its cap, and the eligibility check,
through the gateway."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.common.identity import person_key
from tests.service.applications.support import CHANGSHA, HENGYANG, LOUDI, PROVINCIAL_HRSS, team_member

pytestmark = pytest.mark.service


def recommend(world, session, application, reason=None):
    return world.post(session, f"/v1/applications/{application['id']}/recommend", {"reason": reason} if reason else {})


def test_the_prefecture_bureau_recommends_its_own_institutions_only(world):
    call = world.call("hv-group")
    application = world.submitted(world.institution(), call)
    assert recommend(world, world.bureau(HENGYANG), application).status_code == 404
    recommended = world.ok(recommend(world, world.bureau(CHANGSHA), application, "办学条件优良，同意推荐"))
    assert recommended["state"] == "recommended"
    assert recommended["history"][-1]["actor"].startswith("prefecture:")
    event = world.published(application["id"], "application_recommended")
    assert (event["reason"], event["prefecture"]) == ("办学条件优良，同意推荐", CHANGSHA)


def test_a_technician_school_is_recommended_by_its_hrss_sponsor_not_the_prefecture(world):
    school = world.institution(name="长沙技师学院", type="technician", sponsor=PROVINCIAL_HRSS)
    application = world.submitted(school, world.call("tech-school", prefecture_cap=1))
    by_bureau = recommend(world, world.bureau(CHANGSHA), application)
    assert by_bureau.status_code == 403 and by_bureau.json()["type"] == "urn:chuyi:problem:not-recommender"
    assert recommend(world, world.hrss("衡阳市人力资源和社会保障局"), application).status_code == 404
    assert world.ok(recommend(world, world.hrss(), application))["state"] == "recommended"
    assert world.published(application["id"], "application_recommended")["by"].startswith("hrss:")


def test_only_recommending_roles_recommend(world):
    school = world.institution()
    application = world.submitted(school, world.call("hv-group"))
    assert recommend(world, world.as_institution(school), application).status_code == 403
    assert recommend(world, world.province, application).status_code == 403


def test_declining_needs_a_reason_and_ends_the_application(world):
    application = world.submitted(world.institution(), world.call("hv-group"))
    path = f"/v1/applications/{application['id']}/decline"
    missing = world.post(world.bureau(), path, {})
    assert missing.status_code == 422 and list(missing.json()["errors"]) == ["reason"]
    declined = world.ok(world.post(world.bureau(), path, {"reason": "本市名额已满"}))
    assert declined["state"] == "declined" and declined["history"][-1]["reason"] == "本市名额已满"
    assert recommend(world, world.bureau(), application).status_code == 409
    assert world.published(application["id"], "application_declined")["reason"] == "本市名额已满"


def test_a_draft_cannot_be_recommended(world):
    school = world.institution()
    draft = world.draft(school, world.call("hv-group"))
    assert recommend(world, world.bureau(), draft).status_code == 409


def test_the_cap_counts_each_authoritys_recommendations_in_the_call(world):
    call = world.call("hv-group", prefecture_cap=2)
    changsha = [world.submitted(world.institution(), call) for _ in range(3)]
    hengyang = world.submitted(world.institution(prefecture=HENGYANG, county="衡南县"), call)
    for application in changsha[:2]:
        world.ok(recommend(world, world.bureau(), application))
    refused = recommend(world, world.bureau(), changsha[2])
    assert refused.status_code == 409
    assert refused.json()["type"] == "urn:chuyi:problem:recommendation-cap-reached"
    assert "recommendation cap of 2" in refused.json()["detail"]
    assert world.ok(recommend(world, world.bureau(HENGYANG), hengyang))["state"] == "recommended"
    # A recommended application withdrawn gives its place back.
    world.ok(
        world.post(
            world.stack.client("institution", institution_id=changsha[0]["institution_id"]),
            f"/v1/applications/{changsha[0]['id']}/withdraw",
            {},
        )
    )
    assert world.ok(recommend(world, world.bureau(), changsha[2]))["state"] == "recommended"


def test_many_parallel_recommendations_for_the_last_place_let_exactly_one_through(world):
    call = world.call("innovation-team", prefecture_cap=3, per_institution_limit=12)
    school = world.institution()
    applications = [world.submitted(school, call, team_members=[team_member()]) for _ in range(12)]
    for application in applications[:2]:
        world.ok(recommend(world, world.bureau(), application))
    contenders = applications[2:]
    sessions = [world.bureau() for _ in contenders]
    with ThreadPoolExecutor(len(contenders)) as pool:
        answers = list(pool.map(lambda pair: recommend(world, *pair), zip(sessions, contenders)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 9
    assert all("recommendation cap of 3" in a.json()["detail"] for a in answers if a.status_code == 409)
    listed = world.ok(
        world.get(
            world.province, "/v1/applications", params={"call_id": call["id"], "state": "recommended", "limit": 100}
        )
    )["items"]
    assert len(listed) == 3


def test_submission_runs_the_automatic_rules_with_readable_reasons(world):
    secondary = world.institution(
        name="新化县楚怡工业学校", type="secondary_vocational", prefecture=LOUDI, county="新化县"
    )
    application = world.submitted(secondary, world.call("hv-group"), budget_request_fen=1, construction_plan="")
    findings = {f["rule"]: f for f in application["eligibility_findings"]}
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


def test_the_province_confirms_and_review_gets_the_applicant(world):
    call = world.call("master-teacher", per_institution_limit=1)
    school = world.institution(county="浏阳市")
    member = team_member()
    application = world.recommended(school, call, team_members=[member])
    path = f"/v1/applications/{application['id']}/eligibility"
    decided = world.ok(world.post(world.province, path, {"eligible": True}))
    assert decided["state"] == "eligible"
    decision = decided["eligibility_decision"]
    assert (decision["eligible"], decision["automatically_eligible"], decision["overridden"]) == (True, True, False)
    event = world.published(application["id"], "eligibility_checked")
    assert (event["eligible"], event["overridden"]) == (True, False)
    applicant = event["applicant"]
    assert (applicant["institution_name"], applicant["institution_type"], applicant["county"]) == (
        school["name"],
        "higher_vocational",
        "浏阳市",
    )
    assert applicant["industry_fields"] == ["46", "51"] and applicant["keywords"] == ["工程机械", "智能制造"]
    assert applicant["team_person_keys"] == [person_key(member["id_number"])]
    assert applicant["budget_request_fen"] == 2_000_000_00
    assert applicant["submitted_at"] == application["submitted_at"]
    assert world.post(world.province, path, {"eligible": True}).status_code == 409


def test_overriding_the_automatic_outcome_needs_a_reason(world):
    call = world.call("hv-group")
    application = world.recommended(world.institution(), call, budget_request_fen=1)
    path = f"/v1/applications/{application['id']}/eligibility"
    refused = world.post(world.province, path, {"eligible": True})
    assert refused.status_code == 422 and list(refused.json()["errors"]) == ["reason"]
    assert world.application(application["id"])["state"] == "recommended"
    decided = world.ok(world.post(world.province, path, {"eligible": True, "reason": "经费按省厅批复口径调整"}))
    assert decided["state"] == "eligible" and decided["eligibility_decision"]["overridden"] is True
    event = world.published(application["id"], "eligibility_checked")
    assert (event["overridden"], event["reason"]) == (True, "经费按省厅批复口径调整")


def test_the_province_confirms_an_ineligible_outcome(world):
    application = world.recommended(world.institution(), world.call("hv-group"), budget_request_fen=1)
    decided = world.ok(
        world.post(world.province, f"/v1/applications/{application['id']}/eligibility", {"eligible": False})
    )
    assert decided["state"] == "ineligible"
    assert world.published(application["id"], "eligibility_checked")["eligible"] is False


def test_eligibility_is_decided_on_recommended_applications_by_the_province_only(world):
    school = world.institution()
    application = world.submitted(school, world.call("hv-group"))
    path = f"/v1/applications/{application['id']}/eligibility"
    assert world.post(world.province, path, {"eligible": True}).status_code == 409
    assert world.post(world.bureau(), path, {"eligible": True}).status_code == 403
    assert world.post(world.province, path, {"eligible": "yes"}).status_code == 422


def test_one_per_prefecture_takes_exactly_one_school_of_each_prefecture(world):
    call = world.call("sv-prefecture", prefecture_cap=1)
    schools = [
        world.institution(name=f"娄底第{n}职业中专", type="secondary_vocational", prefecture=LOUDI, county="娄星区")
        for n in (1, 2)
    ]
    first, second = (world.submitted(school, call) for school in schools)
    rule = lambda application: {f["rule"]: f for f in application["eligibility_findings"]}["one_per_prefecture"]  # noqa: E731
    assert rule(first)["passed"] and not rule(second)["passed"]
    assert "每个市州限一所" in rule(second)["reason_zh"]
    world.ok(world.post(world.bureau(LOUDI), f"/v1/applications/{second['id']}/decline", {"reason": "市州推荐一所"}))
    world.ok(recommend(world, world.bureau(LOUDI), first))
    decided = world.ok(world.post(world.province, f"/v1/applications/{first['id']}/eligibility", {"eligible": True}))
    assert rule(decided)["passed"] and decided["state"] == "eligible"


def test_the_findings_shown_before_the_decision_follow_the_other_schools_declines(world):
    call = world.call("sv-prefecture", prefecture_cap=1)
    schools = [
        world.institution(name=f"娄底第{n}职业技术学校", type="secondary_vocational", prefecture=LOUDI, county="涟源市")
        for n in (3, 4)
    ]
    first, second = (world.submitted(school, call) for school in schools)
    rule = lambda application: {f["rule"]: f for f in application["eligibility_findings"]}["one_per_prefecture"]  # noqa: E731
    assert not rule(second)["passed"]
    world.ok(world.post(world.bureau(LOUDI), f"/v1/applications/{first['id']}/decline", {"reason": "市州推荐另一所"}))
    shown = world.ok(world.get(world.province, f"/v1/applications/{second['id']}"))
    assert rule(shown)["passed"], "with the other school declined, the one-per-prefecture rule passes now"
