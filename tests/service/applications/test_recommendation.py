"""Recommendation by the competent authority, within its cap, and the eligibility check,
through the gateway."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from services.common.identity import person_key
from tests.service.applications.support import CHANGSHA, HENGYANG, team_member

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


def test_eligibility_is_decided_on_recommended_applications_by_the_province_only(world):
    school = world.institution()
    application = world.submitted(school, world.call("hv-group"))
    path = f"/v1/applications/{application['id']}/eligibility"
    assert world.post(world.province, path, {"eligible": True}).status_code == 409
    assert world.post(world.bureau(), path, {"eligible": True}).status_code == 403
    assert world.post(world.province, path, {"eligible": "yes"}).status_code == 422
