"""Review's progress followed from its events: the call through in_review, noticed and
finalized, the approved applications, and the selected counts of the catalogue.

Review's events are published here exactly as the review service emits them."""

import pytest

from tests.service.applications.support import PROVINCIAL_HRSS, from_now, publish_review_event
from tests.support.servers import wait_until

pytestmark = pytest.mark.service


def selected_count(world, category: str) -> int:
    items = world.ok(world.get(world.province, "/v1/programmes"))["items"]
    return next(p["selected_count"] for p in items if p["code"] == category)


def ranked(application: dict, rank: int) -> dict:
    return {
        "application_id": application["id"],
        "institution_id": application["institution_id"],
        "prefecture": application["prefecture"],
        "rank": rank,
        "calibrated_hundredths": 9000 - rank,
    }


def test_a_call_follows_review_to_its_selection_and_the_catalogue_counts_it(world, stack):
    # tech-specialty (quota 10) is used by this test only.
    call = world.call("tech-specialty", quota=2, prefecture_cap=2, closes_at=from_now(10))
    schools = [world.institution(name=f"湖南第{n}技师学院", type="technician", sponsor=PROVINCIAL_HRSS) for n in (1, 2)]
    winner, other = (world.eligible(school, call, recommender=world.hrss()) for school in schools)
    before = selected_count(world, "tech-specialty")
    world.wait_for_call_state(call["id"], "closed")
    assert world.published(call["id"], "call_closed")["submitted_count"] == 2

    publish_review_event(
        stack.amqp_uri,
        "experts_assigned",
        call["id"],
        1,
        {
            "call_id": call["id"],
            "unfilled": [],
            "assignments": [
                {
                    "assignment_id": f"asg-{n}",
                    "application_id": a["id"],
                    "expert_id": f"exp-{n}",
                    "review_deadline": from_now(86400),
                }
                for n, a in enumerate((winner, other))
            ],
        },
    )
    wait_until(lambda: world.application(winner["id"])["state"] == "in_review", what="the application in review")
    assert world.wait_for_call_state(call["id"], "in_review")

    publish_review_event(
        stack.amqp_uri,
        "notice_published",
        call["id"],
        2,
        {
            "call_id": call["id"],
            "opens_at": from_now(0),
            "closes_at": from_now(5 * 86400),
            "selected": [ranked(winner, 1)],
        },
    )
    world.wait_for_call_state(call["id"], "noticed")

    publish_review_event(
        stack.amqp_uri,
        "selection_finalized",
        call["id"],
        3,
        {
            "call_id": call["id"],
            "category": "tech-specialty",
            "funding_rule": "tiered-v1",
            "quota": 2,
            "approved": [
                {
                    **{k: v for k, v in ranked(winner, 1).items() if k != "calibrated_hundredths"},
                    "title": winner["title"],
                    "budget_request_fen": winner["budget_request_fen"],
                }
            ],
        },
    )
    finalized = world.wait_for_call_state(call["id"], "finalized")
    assert [h["to_state"] for h in finalized["history"]] == [
        "draft",
        "open",
        "closed",
        "in_review",
        "noticed",
        "finalized",
    ]
    assert all(h["reason"].startswith("cn.chuyi.review.") for h in finalized["history"][3:])
    assert world.application(winner["id"])["state"] == "approved"
    assert world.application(other["id"])["state"] == "not_selected"
    assert selected_count(world, "tech-specialty") == before + 1
    # The quota the call held is freed but for the one selected.
    refused = world.post(world.province, "/v1/calls", {**_terms(call), "quota": 10})
    assert refused.status_code == 409 and f"more than the {9 - before} left" in refused.json()["detail"]


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
    )
    plan = {k: v for k, v in call["review_plan"].items()}
    return {**{k: call[k] for k in keys}, "review_plan": plan, "opens_at": from_now(60), "closes_at": from_now(3600)}


def test_recommendations_end_when_review_starts(world, stack):
    call = world.call("training-base", closes_at=from_now(4))
    application = world.submitted(world.institution(), call)
    world.wait_for_call_state(call["id"], "closed")
    publish_review_event(
        stack.amqp_uri, "experts_assigned", call["id"], 1, {"call_id": call["id"], "unfilled": [], "assignments": []}
    )
    world.wait_for_call_state(call["id"], "in_review")
    late = world.post(world.bureau(), f"/v1/applications/{application['id']}/recommend", {})
    assert late.status_code == 409 and late.json()["type"] == "urn:chuyi:problem:decisions-closed"
