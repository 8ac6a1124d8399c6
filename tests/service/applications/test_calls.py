"""Calls: creation, quota, their window opened and closed on time, through the gateway."""

from datetime import datetime

import pytest

from tests.service.applications.support import RUBRIC, call_body, from_now

pytestmark = pytest.mark.service


def test_a_call_whose_opens_at_has_passed_opens_at_once_and_announces_its_terms(world):
    call = world.call("hv-group", title="2026年楚怡高水平高职高专专业群遴选（第一批）")
    assert call["state"] == "open"
    assert [(h["from_state"], h["to_state"], h["actor"].split(":")[0]) for h in call["history"]] == [
        ("new", "draft", "province"),
        ("draft", "open", "system"),
    ]
    opened = world.published(call["id"], "call_opened")
    assert opened["title"] == "2026年楚怡高水平高职高专专业群遴选（第一批）"
    assert opened["review_plan"]["rubric"] == RUBRIC
    assert opened["review_plan"]["reviewers_per_application"] == 3
    assert (opened["prefecture_cap"], opened["funding_rule"], opened["quota"]) == (3, "tiered-v1", 1)
    assert opened["opens_at"].endswith("Z") and opened["closes_at"] == call["closes_at"]


def test_a_call_opens_and_closes_by_its_timer(world):
    call = world.call("hv-group", opens_at=from_now(1), closes_at=from_now(4))
    assert call["state"] == "draft"
    world.wait_for_call_state(call["id"], "open")
    closed = world.wait_for_call_state(call["id"], "closed")
    assert [h["event"] for h in closed["history"]] == ["create", "open", "close"]
    assert world.published(call["id"], "call_closed")["submitted_count"] == 0
    assert world.events_of(call["id"]) == ["call_opened", "call_closed"]


def test_a_draft_call_is_the_provinces_until_it_opens_and_the_province_may_open_it_early(world):
    school = world.institution()
    call = world.call("hv-group", opens_at=from_now(3600), closes_at=from_now(7200))
    assert world.get(world.as_institution(school), f"/v1/calls/{call['id']}").status_code == 404
    listed = world.ok(world.get(world.as_institution(school), "/v1/calls", params={"limit": 100, "state": "draft"}))
    assert listed["items"] == []
    assert (
        world.post(
            world.as_institution(school), "/v1/applications", {"call_id": call["id"], "title": "专业群"}
        ).status_code
        == 422
    )
    opened = world.ok(world.post(world.province, f"/v1/calls/{call['id']}/open"))
    assert opened["state"] == "open"
    assert datetime.fromisoformat(opened["opens_at"]) < datetime.fromisoformat(call["opens_at"])
    assert opened["history"][-1]["reason"] == "opened early by the province"
    assert world.get(world.as_institution(school), f"/v1/calls/{call['id']}").status_code == 200
    again = world.post(world.province, f"/v1/calls/{call['id']}/open")
    assert again.status_code == 409 and again.json()["type"] == "urn:chuyi:problem:transition-not-allowed"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"category": "think-tank"}, "category"),
        ({"closes_at": from_now(-120)}, "closes_at"),
        ({"opens_at": "2026-03-01T08:00:00"}, "opens_at"),
        ({"quota": "2"}, "quota"),
        ({"prefecture_cap": 0}, "prefecture_cap"),
        (
            {"review_plan": {"reviewers_per_application": 3, "rubric": [{**RUBRIC[0], "weight": 99}]}},
            "review_plan.rubric",
        ),
        ({"funding_rule": {"$ne": None}}, "funding_rule"),
        ({"title": "遴" * 201}, "title"),
    ],
)
def test_bad_call_terms_are_named_and_no_call_is_made(world, stack, change, field):
    before = stack.db("applications").calls.count_documents({})
    response = world.post(world.province, "/v1/calls", {**call_body("hv-group"), **change})
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert stack.db("applications").calls.count_documents({}) == before


def test_calls_are_listed_by_category_and_state(world):
    call = world.call("training-base", quota=1)
    listed = world.ok(
        world.get(world.province, "/v1/calls", params={"category": "training-base", "state": "open", "limit": 100})
    )["items"]
    assert call["id"] in [c["id"] for c in listed]
    assert {(c["category"], c["state"]) for c in listed} == {("training-base", "open")}
