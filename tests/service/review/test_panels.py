"""A mid-term panel through the gateway (docs/panels.md): the province opens it over two funded
projects, its experts are assigned without a conflicted pair (an expert of a project's own
institution never scores it; one expert declines and is replaced), they score on the panel's
rubric, the panel proposes from the calibrated scores, the province confirms a failing result,
and funding withholds the unpaid tranches and claws back the released one by the project's
rule, as its funding record shows; a third project is to rectify by a deadline, and when the
deadline passes its institution and the province are told.

The projects come as the other services make them: review's `selection_finalized` (funding
allocates on it) and applications' `project_established` (review keeps its copy), both
published exactly as their producers publish them."""

import uuid

import pytest

from tests.service.funding.support import Funding, fresh_year, mid_year
from tests.service.notify.support import inbox
from tests.service.review.world import resident_id, soon
from tests.support.events import Producers
from tests.support.servers import wait_until

pytestmark = pytest.mark.service

CATEGORY = "master-studio"  # a person-level category: the same-prefecture rule does not apply to it
RUBRIC = [
    {"code": "progress", "name": "建设进度", "weight": 60, "max_score": 100},
    {"code": "money", "name": "资金执行", "weight": 40, "max_score": 100},
]


def expert(stack, province, institution_id: str, prefecture: str = "株洲市") -> str:
    answer = province.post(
        stack.url("/v1/experts"),
        timeout=30,
        json={
            "name": f"专家{uuid.uuid4().hex[:4]}",
            "id_number": resident_id(),
            "institution_id": institution_id,
            "institution_name": "某职业技术学院",
            "prefecture": prefecture,
            "fields": ["46"],
            "keywords": ["装备制造"],
            "categories": [CATEGORY],
            "load_cap": 5,
        },
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def test_a_mid_term_panel_with_no_conflicted_pair_fails_a_project_and_funding_withholds_and_claws_back(stack):
    funding, province = Funding(stack), stack.client("province")
    year = fresh_year()
    rule = funding.rule({"method": "share", "percent": 100}, {"provincial_special": 1}, clawback="all")
    funding.budget(year, CATEGORY, {"provincial_special": 10**9})
    call_id, approved = funding.finalize(CATEGORY, rule, [1_000_000, 2_000_000, 1_500_000], mid_year(year))
    funding.allocation(call_id, until=lambda a: a["status"] == "allocated")
    weak, strong, lagging = approved
    with Producers(stack.amqp_uri) as applications:
        for p in approved:
            applications.publish(
                "project_established",
                p["application_id"],
                {
                    "project_id": p["application_id"],
                    "call_id": call_id,
                    "category": CATEGORY,
                    "year": year,
                    "institution_id": p["institution_id"],
                    "prefecture": p["prefecture"],
                    "title": p["title"],
                    "rank": p["rank"],
                    "budget_request_fen": p["budget_request_fen"],
                    "yearly_targets": [{"year": year, "target": "建成名师工作室"}],
                },
            )

    own = expert(stack, province, weak["institution_id"], prefecture=weak["prefecture"])  # never on `weak`
    for _ in range(4):
        expert(stack, province, f"inst_{uuid.uuid4().hex[:8]}")

    body = {
        "milestone": "mid_term",
        "title": f"{year}年楚怡名师大师工作室中期检查",
        "project_ids": [p["application_id"] for p in approved],
        "rubric": RUBRIC,
        "reviewers_per_project": 2,
        "review_deadline": soon(hours=1),
    }
    opened = wait_until(
        lambda: (a := province.post(stack.url("/v1/panels"), json=body, timeout=30)).status_code == 201 and a,
        timeout=30,
        what="review to know both projects",
    )
    panel = opened.json()
    assert (panel["status"], panel["thresholds"]) == ("open", {"pass_from": 7500, "rectify_from": 6000})
    again = province.post(stack.url("/v1/panels"), json=body, timeout=30)  # one open panel per project and milestone
    assert again.status_code == 422 and set(again.json()["errors"]) == {
        "project_ids.0",
        "project_ids.1",
        "project_ids.2",
    }

    run = province.post(stack.url(f"/v1/panels/{panel['id']}/assignments"), timeout=60)
    assert run.status_code == 201, run.text
    assert run.json()["unfilled"] == [] and run.json()["quality"]["coverage"] == 1.0
    first = run.json()["assigned"][0]
    declined = stack.client("expert", expert_id=first["expert_id"]).post(
        stack.url(f"/v1/panel-assignments/{first['id']}/decline"),
        json={"reason": "与项目单位有合作关系，申请回避"},
        timeout=60,
    )
    assert declined.status_code == 200 and declined.json()["assignment"]["status"] == "declined", declined.text
    assert [
        (a["project_id"], a["expert_id"] != first["expert_id"]) for a in declined.json()["replacement"]["assigned"]
    ] == [(first["project_id"], True)]
    listed = province.get(
        stack.url("/v1/panel-assignments"), params={"panel_id": panel["id"], "status": "assigned"}, timeout=30
    ).json()
    pairs = {(a["project_id"], a["expert_id"]) for a in listed["items"]}
    assert len(pairs) == 6 and (weak["application_id"], own) not in pairs

    for a in listed["items"]:
        client = stack.client("expert", expert_id=a["expert_id"])
        mine = client.get(stack.url("/v1/panel-assignments"), timeout=30).json()["items"]
        assert a["id"] in {m["id"] for m in mine} and {m["expert_id"] for m in mine} == {a["expert_id"]}
        points = {weak["application_id"]: 40, lagging["application_id"]: 70}.get(a["project_id"], 90)
        scored = client.put(
            stack.url(f"/v1/panel-assignments/{a['id']}/review"),
            timeout=30,
            json={"scores": {"progress": points, "money": points}, "comments": "按评分细则评分"},
        )
        assert scored.status_code == 200 and scored.json()["status"] == "reviewed", scored.text
    stranger = stack.client("expert", expert_id=f"exp_{uuid.uuid4().hex[:8]}")
    assert (
        stranger.put(
            stack.url(f"/v1/panel-assignments/{listed['items'][0]['id']}/review"),
            timeout=30,
            json={"scores": {"progress": 1, "money": 1}, "comments": "x"},
        ).status_code
        == 404
    )

    proposal = province.post(stack.url(f"/v1/panels/{panel['id']}/proposal"), timeout=30)
    assert proposal.status_code == 200, proposal.text
    results = {r["project_id"]: r for r in proposal.json()["results"]}
    assert (
        results[weak["application_id"]]["proposed_result"],
        results[strong["application_id"]]["proposed_result"],
    ) == ("fail", "pass")

    confirm = stack.url(f"/v1/panels/{panel['id']}/projects/{{}}/confirm")
    unexplained = province.post(confirm.format(strong["application_id"]), json={"result": "rectify"}, timeout=30)
    assert unexplained.status_code == 422 and list(unexplained.json()["errors"]) == ["reason"]
    failed = province.post(confirm.format(weak["application_id"]), json={}, timeout=30)
    assert failed.status_code == 200 and failed.json()["result"] == "fail", failed.text
    assert province.post(confirm.format(strong["application_id"]), json={}, timeout=30).json()["result"] == "pass"
    rectifying = province.post(
        confirm.format(lagging["application_id"]),
        timeout=30,
        json={"result": "rectify", "reason": "建设进度滞后，限期整改", "rectify_by": soon(seconds=3)},
    )
    assert rectifying.status_code == 200 and rectifying.json()["result"] == "rectify", rectifying.text
    assert province.get(stack.url(f"/v1/panels/{panel['id']}"), timeout=30).json()["status"] == "closed"
    closed = province.get(stack.url("/v1/panels"), params={"milestone": "mid_term", "status": "closed"}, timeout=30)
    assert closed.status_code == 200 and panel["id"] in {p["id"] for p in closed.json()["items"]}

    def money(project_id, status):
        shown = funding.project(project_id)
        return shown["status"] == status and shown

    gone = wait_until(lambda: money(weak["application_id"], "failed"), timeout=30, what="funding to record the fail")
    assert [t["state"] for t in gone["tranches"]] == ["clawed_back", "withheld", "withheld"]
    approval = gone["tranches"][0]["amount"]["total"]
    assert (gone["clawed_back"]["total"], gone["kept"]["total"], gone["scheduled"]["total"]) == (approval, 0, 0)
    assert gone["withheld"]["total"] == gone["award"]["total"] - approval
    assert gone["milestones"][-1]["recorded_by"] == f"panel:{panel['id']}"
    passed = wait_until(
        lambda: money(strong["application_id"], "awaiting_acceptance"), timeout=30, what="funding to record the pass"
    )
    assert [t["state"] for t in passed["tranches"]] == ["released", "released", "scheduled"]

    left = province.post(
        stack.url("/v1/panels"),
        timeout=30,
        json={**body, "milestone": "acceptance", "project_ids": [weak["application_id"]]},
    )
    assert left.status_code == 422 and "已因考核未通过退出" in left.json()["errors"]["project_ids.0"][0]
    institution = stack.client("institution", institution_id=weak["institution_id"])
    wait_until(
        lambda: any(m["kind"] == "panel_result_confirmed" for m in inbox(stack, institution)),
        timeout=30,
        what="the institution to be told of the result",
    )

    assert funding.project(lagging["application_id"])["status"] == "mid_term_rectifying"
    for told in (stack.client("institution", institution_id=lagging["institution_id"]), province):
        due = wait_until(
            lambda: [
                m
                for m in inbox(stack, told)
                if m["kind"] == "rectification_due" and lagging["application_id"] in m["body"]
            ],
            timeout=30,
            what="the passed rectification deadline to be told",
        )
        assert len(due) == 1 and "整改期限" in due[0]["body"]
