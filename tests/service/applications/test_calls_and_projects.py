"""Calls to their end (closed early, extended, cancelled), every year's selections toward one
2025 target, the projects they become, and the notice's hard rules, through the gateway.

Review's selection is published here exactly as the review service emits it."""

import pytest

from tests.service.applications.support import PROVINCIAL_HRSS, HENGYANG, from_now
from tests.support.events import publish_once
from tests.support.servers import wait_until

pytestmark = pytest.mark.service


def programme(world, code: str) -> dict:
    return next(p for p in world.ok(world.get(world.province, "/v1/programmes"))["items"] if p["code"] == code)


def test_a_cancelled_call_releases_exactly_its_held_quota_and_its_applicants_are_told(world):
    before = programme(world, "sv-specialty")
    call = world.call("sv-specialty", quota=7)
    assert programme(world, "sv-specialty")["held"] == before["held"] + 7
    schools = [world.institution(type="secondary_vocational", prefecture=p) for p in ("长沙市", HENGYANG)]
    submitted = world.submitted(schools[0], call)
    draft = world.draft(schools[1], call)

    refused = world.post(world.province, f"/v1/calls/{call['id']}/cancel", {})
    assert refused.status_code == 422 and "reason" in refused.json()["errors"]
    cancelled = world.ok(world.post(world.province, f"/v1/calls/{call['id']}/cancel", {"reason": "批次误发，撤销重发"}))
    assert cancelled["state"] == "cancelled" and cancelled["history"][-1]["reason"] == "批次误发，撤销重发"
    after = programme(world, "sv-specialty")
    assert (after["held"], after["available"]) == (before["held"], before["available"])
    for application in (submitted, draft):
        closed = world.application(application["id"])
        assert closed["state"] == "call_cancelled" and closed["history"][-1]["reason"] == "批次误发，撤销重发"
    event = world.published(call["id"], "call_cancelled")
    assert event["released_quota"] == 7
    assert sorted(a["institution_id"] for a in event["closed_applications"]) == sorted(s["id"] for s in schools)
    for school in schools:
        wait_until(
            lambda: "call_cancelled" in world.inbox_kinds(world.as_institution(school)),
            what="the institution told of the cancelled call",
        )
    again = world.post(world.province, f"/v1/calls/{call['id']}/cancel", {"reason": "again"})
    assert again.status_code == 409 and programme(world, "sv-specialty")["held"] == before["held"]


def test_a_call_closes_early_or_is_extended_before_it_closes_and_its_applicants_are_told(world):
    call = world.call("sv-specialty", quota=1)
    school = world.institution(type="secondary_vocational")
    world.draft(school, call)
    later = from_now(7200)
    extended = world.ok(world.post(world.province, f"/v1/calls/{call['id']}/extend", {"closes_at": later}))
    assert extended["state"] == "open" and extended["closes_at"] > call["closes_at"]
    assert world.published(call["id"], "call_extended")["institution_ids"] == [school["id"]]
    wait_until(
        lambda: "call_extended" in world.inbox_kinds(world.as_institution(school)),
        what="the applicant told of the extension",
    )
    earlier = world.post(world.province, f"/v1/calls/{call['id']}/extend", {"closes_at": call["closes_at"]})
    assert earlier.status_code == 422 and list(earlier.json()["errors"]) == ["closes_at"]
    closed = world.ok(world.post(world.province, f"/v1/calls/{call['id']}/close", {"reason": "申报已足额"}))
    assert closed["state"] == "closed" and closed["closes_at"] < later
    assert world.published(call["id"], "call_closed")["submitted_count"] == 0
    late = world.post(world.province, f"/v1/calls/{call['id']}/extend", {"closes_at": from_now(9000)})
    assert late.status_code == 409
    world.ok(world.post(world.province, f"/v1/calls/{call['id']}/cancel", {"reason": "无人申报"}), 409)


def test_every_years_selections_count_toward_one_target_and_become_projects_each_party_sees_its_own(world, stack):
    # heritage-base (quota 20): its selections here take 2 of it for the rest of the session.
    before = programme(world, "heritage-base")
    by_year = {y["year"]: y["selected"] for y in before["selected_by_year"]}
    changsha, hengyang = world.institution(), world.institution(prefecture=HENGYANG)
    first = world.call("heritage-base", year=2023, quota=1)
    won_2023 = world.eligible(changsha, first)
    world.selected(first, [won_2023])
    second = world.call("heritage-base", year=2024, quota=1)
    won_2024 = world.eligible(hengyang, second)
    world.selected(second, [won_2024])

    after = programme(world, "heritage-base")
    assert after["selected"] == before["selected"] + 2 and after["target"] == 20
    assert {y["year"]: y["selected"] for y in after["selected_by_year"]} == {
        **by_year,
        2023: by_year.get(2023, 0) + 1,
        2024: by_year.get(2024, 0) + 1,
    }
    third = world.post(world.province, "/v1/calls", {**_terms(first), "year": 2025, "quota": after["available"] + 1})
    assert third.status_code == 409 and third.json()["type"] == "urn:chuyi:problem:quota-exceeded"

    mine = world.ok(world.get(world.as_institution(changsha), "/v1/projects"))["items"]
    assert [p["id"] for p in mine] == [won_2023["id"]]
    project = world.ok(world.get(world.as_institution(changsha), f"/v1/projects/{won_2023['id']}"))
    assert (project["state"], project["year"], project["rank"], project["award"]) == ("established", 2023, 1, None)
    assert project["plan"]["yearly_targets"] == won_2023["yearly_targets"]
    assert project["history"][0]["event"] == "create" and project["history"][0]["at"].endswith("Z")
    assert world.get(world.as_institution(changsha), f"/v1/projects/{won_2024['id']}").status_code == 404
    bureau = world.ok(world.get(world.bureau(HENGYANG), "/v1/projects", params={"category": "heritage-base"}))
    assert won_2024["id"] in [p["id"] for p in bureau["items"]]
    assert won_2023["id"] not in [p["id"] for p in bureau["items"]]
    finance = stack.client("finance")
    of_2024 = world.ok(
        world.get(finance, "/v1/projects", params={"category": "heritage-base", "year": 2024, "limit": 100})
    )["items"]
    assert won_2024["id"] in [p["id"] for p in of_2024] and won_2023["id"] not in [p["id"] for p in of_2024]
    assert world.published(won_2023["id"], "project_established")["year"] == 2023
    wait_until(
        lambda: "project_established" in world.inbox_kinds(world.as_institution(changsha)),
        what="the institution told of its project",
    )


def _terms(call: dict) -> dict:
    keys = (
        "category",
        "title",
        "quota",
        "prefecture_cap",
        "per_institution_limit",
        "budget_min_fen",
        "budget_max_fen",
        "funding_rule",
        "review_plan",
    )
    return {**{k: call[k] for k in keys}, "opens_at": from_now(60), "closes_at": from_now(3600)}


def test_the_notices_institution_type_limit_is_not_overridable(world):
    call = world.call("vu-group", quota=1)
    technician = world.institution(name="湖南工贸技师学院", type="technician", sponsor=PROVINCIAL_HRSS)
    application = world.recommended(technician, call, recommender=world.hrss())
    path = f"/v1/applications/{application['id']}/eligibility"
    refused = world.post(world.province, path, {"eligible": True, "reason": "经研究同意"})
    assert refused.status_code == 409 and refused.json()["type"] == "urn:chuyi:problem:rule-not-overridable"
    assert "不可推翻" in refused.json()["detail"] and "technician" in refused.json()["detail"]
    assert world.application(application["id"])["state"] == "recommended"
    assert world.ok(world.post(world.province, path, {"eligible": False}))["state"] == "ineligible"


@pytest.mark.parametrize(
    ("left", "state", "transition"),
    [("project_failed", "failed", "fail"), ("project_withdrawn", "withdrawn", "withdraw")],
)
def test_a_project_that_leaves_frees_its_place_for_a_later_call(world, stack, left, state, transition):
    before = programme(world, "heritage-base")
    school = world.institution()
    call = world.call("heritage-base", year=2024, quota=1)
    won = world.eligible(school, call)
    world.selected(call, [won])
    assert programme(world, "heritage-base")["selected"] == before["selected"] + 1

    nothing = {"currency": "CNY", "total": 0, "by_source": {"provincial_special": 0}}
    publish_once(
        stack.amqp_uri,
        left,
        won["id"],
        {
            "project_id": won["id"],
            "call_id": call["id"],
            "category": "heritage-base",
            "reason": "建设进度严重滞后",
            "withheld": nothing,
            "clawed_back": nothing,
            **({"milestone": "mid_term"} if left == "project_failed" else {}),
        },
    )
    url = f"/v1/projects/{won['id']}"
    project = wait_until(
        lambda: (p := world.ok(world.get(world.as_institution(school), url)))["state"] == state and p,
        what="the project to leave",
    )
    assert project["history"][-1]["event"] == transition and "建设进度严重滞后" in project["history"][-1]["reason"]
    after = programme(world, "heritage-base")
    assert (after["selected"], after["available"]) == (before["selected"], before["available"])
    later = world.call("heritage-base", year=2025, quota=after["available"])  # the freed place among them
    world.ok(world.post(world.province, f"/v1/calls/{later['id']}/cancel", {"reason": "测试结束，释放名额"}))
