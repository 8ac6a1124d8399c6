"""Milestones through the public API: pass releases, rectify holds, fail withholds and
claws back; every movement is in the ledger, which balances; an institution sees only
its own projects' money."""

import uuid

import pytest

from tests.service.funding.support import DIRECT, Funding, check_http_ledger, fresh_year, mid_year

pytestmark = pytest.mark.service

AWARD = 1_000_001  # an odd total: the split by source and by tranche must still add up to the fen


@pytest.fixture(scope="module")
def funding(stack):
    return Funding(stack)


@pytest.fixture
def project(funding):
    """One funded project of its own institution: 1,000,001 fen, provincial 2 : social 1,
    tranches 40/30/30, claw-back beyond the approval tranche."""
    year, institution_id = fresh_year(), f"inst_{uuid.uuid4().hex[:8]}"
    rule = funding.rule({"method": "share", "percent": 100}, {"provincial_special": 2, "social": 1})
    funding.budget(year, "master-studio", {"provincial_special": 10**8, "social": 10**8})
    call_id, approved = funding.finalize("master-studio", rule, [AWARD], mid_year(year), institution_id)
    funding.allocation(call_id, until=lambda a: a["status"] == "allocated")
    return approved[0]["application_id"], institution_id


def states(funding, project_id):
    return [t["state"] for t in funding.project(project_id)["tranches"]]


def test_pass_releases_rectify_holds_until_a_later_pass(funding, project):
    project_id, _ = project
    held = funding.milestone(project_id, "mid_term", "rectify", "实训设备采购滞后，限期整改")
    assert held.status_code == 201
    assert held.json()["funding"]["status"] == "mid_term_rectifying"
    assert states(funding, project_id) == ["released", "scheduled", "scheduled"]
    assert funding.milestone(project_id, "mid_term", "pass").status_code == 201
    passed = funding.milestone(project_id, "acceptance", "pass")
    assert passed.status_code == 201
    shown = passed.json()["funding"]
    assert shown["status"] == "completed"
    assert [t["state"] for t in shown["tranches"]] == ["released"] * 3
    assert shown["released"] == shown["award"] == shown["kept"]
    split = shown["award"]["by_source"]
    assert sum(split.values()) == AWARD and abs(split["provincial_special"] - 2 * split["social"]) <= 2
    assert [(m["milestone"], m["result"], m["reason"]) for m in shown["milestones"]] == [
        ("mid_term", "rectify", "实训设备采购滞后，限期整改"),
        ("mid_term", "pass", DIRECT),
        ("acceptance", "pass", DIRECT),
    ]
    refused = funding.milestone(project_id, "acceptance", "fail", "迟到的结论")
    assert refused.status_code == 409 and "funding is complete" in refused.json()["detail"]


def test_a_withdrawn_project_keeps_only_what_its_rule_lets_it_keep(funding, project):
    project_id, _ = project
    funding.milestone(project_id, "mid_term", "pass")
    assert funding.post(f"/v1/projects/{project_id}/withdrawal", {"reason": "  "}).status_code == 422
    withdrawn = funding.post(f"/v1/projects/{project_id}/withdrawal", {"reason": "学校申请撤销：专业群调整"})
    assert withdrawn.status_code == 200, withdrawn.text
    shown = withdrawn.json()
    assert shown["status"] == "withdrawn"
    assert [t["state"] for t in shown["tranches"]] == ["released", "clawed_back", "withheld"]  # beyond approval
    assert shown["history"][-1]["event"] == "withdraw" and shown["history"][-1]["reason"] == "学校申请撤销：专业群调整"
    refused = funding.milestone(project_id, "acceptance", "pass")
    assert (
        refused.status_code == 409 and "withdrawn" in refused.json()["detail"] and "已撤销" in refused.json()["detail"]
    )
    again = funding.post(f"/v1/projects/{project_id}/withdrawal", {"reason": "再次撤销"})
    assert again.status_code == 409


def test_a_project_that_does_not_exist_has_no_milestones(funding):
    assert funding.milestone("app_nothing", "mid_term", "pass").status_code == 404


def test_an_institution_sees_its_own_project_and_another_institution_gets_404(funding, stack, project):
    project_id, institution_id = project
    own = stack.client("institution", institution_id=institution_id)
    other = stack.client("institution", institution_id="inst_someone_else")
    assert funding.project(project_id, own)["institution_id"] == institution_id
    assert funding.get(f"/v1/projects/{project_id}/funding", other).status_code == 404
    prefecture = stack.client("prefecture", prefecture="长沙市")
    assert funding.get(f"/v1/projects/{project_id}/funding", prefecture).status_code == 403
    assert funding.milestone(project_id, "mid_term", "pass").status_code == 201
    assert (
        funding.post(
            f"/v1/projects/{project_id}/milestones", {"milestone": "acceptance", "result": "pass"}, client=own
        ).status_code
        == 403
    )


def test_a_retried_milestone_with_its_key_is_recorded_once(funding, project):
    project_id, _ = project
    body = {"milestone": "mid_term", "result": "pass", "reason": DIRECT}
    first = funding.post(f"/v1/projects/{project_id}/milestones", body, key=f"ms-{project_id}")
    again = funding.post(f"/v1/projects/{project_id}/milestones", body, key=f"ms-{project_id}")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert len(funding.project(project_id)["milestones"]) == 1


def test_the_whole_ledger_balances_and_pages_in_commit_order(funding, project):
    project_id, _ = project
    funding.milestone(project_id, "mid_term", "fail", "中期检查不合格")
    entries = funding.ledger()
    assert [e["position"] for e in entries] == list(range(1, len(entries) + 1))
    balances = check_http_ledger(entries)
    position = balances.project_position(project_id)
    shown = funding.project(project_id)
    for source, award in shown["award"]["by_source"].items():
        assert position[source]["released"] == shown["kept"]["by_source"][source]
        assert position[source]["withheld"] == shown["withheld"]["by_source"][source]
        assert sum(position[source].values()) == award
    bad = funding.get("/v1/funding/ledger", funding.finance, cursor="bm90LWEtY3Vyc29y")
    assert bad.status_code == 422 and list(bad.json()["errors"]) == ["cursor"]
