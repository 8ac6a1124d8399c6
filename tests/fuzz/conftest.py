"""The world the fuzzer works in: records of each kind a path can name, in the states where the
services' rules apply (an open call with a draft; review calls with an open assignment and with a
public notice and an objection; a funded project; a message in an inbox), and a token of each
role scoped to them, so that generated requests reach those rules and not only the 404s."""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import own_platform
from tests.service.applications.support import CHANGSHA, PROVINCIAL_HRSS, World
from tests.service.funding.support import Funding, fresh_year, mid_year
from tests.service.review.world import World as ReviewWorld
from tests.service.review.world import soon
from tests.support.events import Producers
from tests.support.servers import wait_until

FUZZ_DIR = Path(__file__).resolve().parent
CATEGORY = "hv-group"


def pytest_collection_modifyitems(config, items):
    """The fuzz runs last in a session: what it makes (calls holding a category's quota, budget
    lines, institutions) cannot change what another test of the session counts on."""
    items.sort(key=lambda item: FUZZ_DIR in Path(str(item.path)).parents)


@dataclass(frozen=True)
class FuzzWorld:
    ids: dict[str, list[str]]  # a path parameter's (or body field's) name -> ids of real records
    tokens: dict[str, str]  # role -> a token scoped to the world's records

    def aim(self, case) -> dict[str, str]:
        """Points half the cases at the world's records (their path ids, and the ids a JSON body
        names at its top) and answers the headers to send: a token of one of the roles the
        operation admits (its x-roles), none for a public one. The choices follow from what was
        generated, so a case is always sent the same way."""
        named = [(case.path_parameters, name) for name in case.path_parameters or {}]
        if isinstance(case.body, dict):
            named += [(case.body, name) for name in case.body]
        named = [(holder, name) for holder, name in named if name in self.ids]
        pick = _digest([holder[name] for holder, name in named])
        if named and pick % 2 == 0:
            for holder, name in named:
                holder[name] = self.ids[name][pick // 2 % len(self.ids[name])]
        roles = case.operation.definition.raw.get("x-roles")
        if not roles:
            return {}
        role = roles[_digest([case.path_parameters, case.query, case.body]) % len(roles)]
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def _digest(generated) -> int:
    return zlib.crc32(json.dumps(generated, default=str, sort_keys=True).encode())


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The fuzz run's own platform: its expert must be the only one its review calls can get,
    and what it creates must not change the pools and quotas the service tests reason about."""
    yield from own_platform(tmp_path_factory.mktemp("fuzz-stack"))


def review_records(stack, province) -> dict[str, list[str]]:
    """Two review calls as the applications service announces them: one with an assignment open
    for review, one through its ranking to a public notice with an objection filed."""
    with Producers(stack.amqp_uri) as applications:
        review = ReviewWorld(stack, applications, province)
        reviewing, noticed = review.open_call(CATEGORY, quota=1, k=1), review.open_call(CATEGORY, quota=1, k=1)
        review.apply(reviewing)
        objected = review.apply(noticed)
        expert_id = review.expert((CATEGORY,))
        for call in (reviewing, noticed):
            review.close(call)
            review.run(call)
        expert = review.as_expert(expert_id)
        (noticed_assignment,) = review.assignments(noticed)
        review_ok(
            expert.put(
                stack.url(f"/v1/assignments/{noticed_assignment['id']}/review"),
                json={"scores": {"plan": 80, "base": 40}, "comments": "材料完整。"},
                timeout=30,
            )
        )
        review_ok(province.post(stack.url(f"/v1/calls/{noticed.id}/ranking"), timeout=30))
        review_ok(
            province.post(stack.url(f"/v1/calls/{noticed.id}/notice"), json={"closes_at": soon(hours=2)}, timeout=30),
            201,
        )
        objector = stack.client("institution", institution_id="inst-fuzz-objector")
        objection = review_ok(
            objector.post(
                stack.url(f"/v1/calls/{noticed.id}/objections"),
                json={"application_id": objected, "grounds": "申报材料中的业绩数据不实"},
                timeout=30,
            ),
            201,
        )
        (open_assignment,) = review.assignments(reviewing)
    return {
        "call_id": [reviewing.id, noticed.id],
        "application_id": [objected],
        "assignment_id": [open_assignment["id"]],
        "objection_id": [objection["id"]],
        "expert_id": [expert_id],
    }


def review_ok(answer, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    return answer.json()


@pytest.fixture(scope="session")
def fuzz_world(stack) -> FuzzWorld:
    applications, funding = World(stack), Funding(stack)
    institution = applications.institution()
    call = applications.call(CATEGORY)
    draft = applications.draft(institution, call)

    year = fresh_year()
    rule_id = funding.rule(
        {"method": "tiers", "tiers": [{"from_rank": 1, "to_rank": None, "amount": 1_000_000_00}]},
        {"provincial_special": 1},
    )
    funding.budget(year, CATEGORY, {"provincial_special": 10_000_000_00})
    funded_call, (project,) = funding.finalize(
        CATEGORY, rule_id, [2_000_000_00], mid_year(year), institution_id=institution["id"]
    )
    funding.allocation(funded_call, until=lambda allocation: allocation["status"] == "allocated")

    review = review_records(stack, applications.province)
    (expert_id,) = review["expert_id"]
    expert = stack.client("expert", expert_id=expert_id)
    inbox = wait_until(
        lambda: expert.get(stack.url("/v1/inbox"), timeout=30).json()["items"],
        timeout=30,
        what="the expert's message about the assignments",
    )

    return FuzzWorld(
        ids={
            **review,
            "call_id": [call["id"], funded_call, *review["call_id"]],
            "application_id": [draft["id"], *review["application_id"]],
            "institution_id": [institution["id"]],
            "rule_id": [rule_id],
            "project_id": [project["application_id"]],
            "notification_id": [inbox[0]["id"]],
        },
        tokens={
            "province": stack.token("province"),
            "finance": stack.token("finance"),
            "institution": stack.token("institution", institution_id=institution["id"]),
            "prefecture": stack.token("prefecture", prefecture=CHANGSHA),
            "expert": stack.token("expert", expert_id=expert_id),
            "hrss": stack.token("hrss", sponsor=PROVINCIAL_HRSS),
        },
    )
