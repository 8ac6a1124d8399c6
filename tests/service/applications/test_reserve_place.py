"""Dynamic adjustment (动态调整), the province's other choice: the place of a project that left
goes to its call's reserve list, through the gateway on the whole platform (applications,
funding, notify). Review's selection is published exactly as the review service emits it."""

import pytest

from tests.service.applications.support import HENGYANG, LOUDI
from tests.service.funding.support import Funding, fresh_year, mid_year
from tests.support.servers import wait_until

pytestmark = pytest.mark.service

FIRST_PLACE, LATER_PLACES = 3_000_000, 1_000_000


def programme(world, code: str) -> dict:
    return next(p for p in world.ok(world.get(world.province, "/v1/programmes"))["items"] if p["code"] == code)


def project_in(world, session, project_id: str, state: str) -> dict:
    url = f"/v1/projects/{project_id}"
    return wait_until(
        lambda: (p := world.ok(world.get(session, url)))["state"] == state and p,
        what=f"project {project_id} to be {state}",
    )


def test_a_withdrawn_projects_place_goes_to_the_first_of_its_calls_reserve_list_once(world, stack):
    funding, year = Funding(stack), fresh_year()
    rule = funding.rule(
        {
            "method": "tiers",
            "tiers": [
                {"from_rank": 1, "to_rank": 1, "amount": FIRST_PLACE},
                {"from_rank": 2, "to_rank": None, "amount": LATER_PLACES},
            ],
        },
        {"provincial_special": 1},
    )
    funding.budget(year, "hv-group", {"provincial_special": 10 * FIRST_PLACE})
    winner, first, second = (
        world.institution(),
        world.institution(prefecture=HENGYANG),
        world.institution(prefecture=LOUDI),
    )
    call = world.call("hv-group", quota=1)
    won, waiting, behind = (world.eligible(school, call) for school in (winner, first, second))
    world.selected(call, [won], reserve=[waiting, behind], funding_rule=rule, at=mid_year(year))
    funding.allocation(call["id"], until=lambda a: a["status"] == "allocated")
    assert world.ok(world.get(world.province, f"/v1/calls/{call['id']}"))["reserve_valid_until"].endswith("Z")
    project_in(world, world.province, won["id"], "under_construction")

    not_left = world.post(world.province, f"/v1/projects/{won['id']}/successor")
    assert not_left.status_code == 409 and not_left.json()["type"] == "urn:chuyi:problem:project-not-left"
    assert "候补" in not_left.json()["detail"] and "reserve list" in not_left.json()["detail"]

    selected_before = programme(world, "hv-group")["selected"]
    world.ok(world.post(world.province, f"/v1/projects/{won['id']}/withdrawal", {"reason": "学校申请撤销：专业群调整"}))
    project_in(world, world.province, won["id"], "withdrawn")
    assert programme(world, "hv-group")["selected"] == selected_before - 1
    assert world.post(world.as_institution(first), f"/v1/projects/{won['id']}/successor").status_code == 403

    given = world.post(world.province, f"/v1/projects/{won['id']}/successor")
    successor = world.ok(given, 201)
    assert given.headers["Location"].endswith(f"/v1/projects/{waiting['id']}")
    assert (successor["id"], successor["succeeds"], successor["rank"], successor["state"]) == (
        waiting["id"],
        won["id"],
        2,
        "established",
    )
    assert won["id"] in successor["history"][0]["reason"]
    assert programme(world, "hv-group")["selected"] == selected_before
    assert world.application(waiting["id"])["state"] == "approved"
    assert world.application(behind["id"])["state"] == "not_selected"
    assert world.ok(world.get(world.province, f"/v1/projects/{won['id']}"))["succeeded_by"] == waiting["id"]

    funded = project_in(world, world.as_institution(first), waiting["id"], "under_construction")
    assert funded["award"]["total"] == FIRST_PLACE  # by the call's rule, at the rank of the place it took
    assert funding.project(waiting["id"])["award"]["total"] == FIRST_PLACE
    assert world.published(f"place-of-{won['id']}", "project_replaced")["successor_project_id"] == waiting["id"]
    assert world.published(waiting["id"], "project_established")["rank"] == 2
    wait_until(
        lambda: (
            "project_replaced" in world.inbox_kinds(world.as_institution(first))
            and "project_replaced" in world.inbox_kinds(world.province)
        ),
        what="the successor's institution and the province told",
    )

    again = world.post(world.province, f"/v1/projects/{won['id']}/successor")
    assert again.status_code == 409 and again.json()["type"] == "urn:chuyi:problem:place-taken"
    assert waiting["id"] in again.json()["detail"] and "一个名额只能递补一次" in again.json()["detail"]
    assert programme(world, "hv-group")["selected"] == selected_before
    assert world.application(behind["id"])["state"] == "not_selected"
