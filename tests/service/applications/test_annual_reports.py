"""Annual progress reports (年度建设进展报告) through the gateway: the province opens the year's
window, an institution files against the year's targets, its bureau returns it with a reason,
it is refiled, endorsed and accepted; the project's page lists it; a project that never reports
is reminded before the deadline (moved once, later) and listed missing after it; supervision
counts timeliness.

This module owns the session stack's reporting window of 2023 (one window per year)."""

import pytest

from tests.service.applications.support import CHANGSHA, HENGYANG, from_now
from tests.support.servers import wait_until

pytestmark = pytest.mark.service

YEAR = 2023
TARGETS = [{"year": YEAR, "target": "建成智能制造实训中心，新增合作企业5家"}, {"year": 2024, "target": "通过中期检查"}]


def content(*statuses: str, evidence: str = "实训中心已通过竣工验收") -> dict:
    return {
        "summary": "本年度完成实训中心建设，新增合作企业3家。",
        "assessments": [
            {"target_index": i, "status": s, "evidence": f"{evidence}（第{i + 1}项）"} for i, s in enumerate(statuses)
        ],
    }


def test_a_report_is_returned_refiled_endorsed_and_accepted_and_a_missing_one_is_reminded_and_listed(world, stack):
    school, silent = world.institution(), world.institution()
    call = world.call("hv-group", year=YEAR, quota=2)
    reporting = world.eligible(school, call, yearly_targets=TARGETS)
    missing = world.eligible(silent, call, title="现代物流专业群建设", yearly_targets=TARGETS[:1])
    world.selected(call, [reporting, missing])
    mine, bureau = world.as_institution(school), world.bureau(CHANGSHA)
    filing = f"/v1/projects/{reporting['id']}/annual-reports"

    early = world.post(mine, filing, {"year": YEAR, **content("partly_met")})
    assert early.status_code == 409 and early.json()["type"] == "urn:chuyi:problem:window-not-open"
    window = world.ok(world.post(world.province, "/v1/report-windows", {"year": YEAR, "due_at": from_now(6)}), 201)
    extend = f"/v1/report-windows/{window['id']}/extend"
    assert world.post(world.province, extend, {"due_at": window["due_at"]}).status_code == 422  # not later
    window = world.ok(world.post(world.province, extend, {"due_at": from_now(9), "reason": "延长报送期"}))
    assert [e["reason"] for e in window["extensions"]] == ["延长报送期"]
    again = world.post(world.province, "/v1/report-windows", {"year": YEAR, "due_at": from_now(60)})
    assert again.status_code == 409

    unassessed = world.post(mine, filing, {"year": YEAR, **content()})
    assert unassessed.status_code == 422 and list(unassessed.json()["errors"]) == ["assessments"]
    report = world.ok(world.post(mine, filing, {"year": YEAR, **content("partly_met")}), 201)
    assert (report["state"], report["late"], report["year"]) == ("submitted", False, YEAR)
    assert [(a["target"], a["status"]) for a in report["assessments"]] == [(TARGETS[0]["target"], "partly_met")]
    path = f"/v1/annual-reports/{report['id']}"
    assert world.post(world.bureau(HENGYANG), f"{path}/endorse", {}).status_code == 404  # not its project
    assert world.post(bureau, f"{path}/return", {}).status_code == 422  # a return needs its reason
    returned = world.ok(world.post(bureau, f"{path}/return", {"reason": "佐证不足，请补充合作协议"}))
    assert (returned["state"], returned["return_reason"]) == ("returned", "佐证不足，请补充合作协议")
    refused = world.post(bureau, f"{path}/endorse", {})
    assert refused.status_code == 409 and "refile" in refused.json()["detail"]  # names the next step
    refiled = world.ok(world.post(mine, f"{path}/refile", content("met", evidence="已签订合作协议")))
    assert (refiled["state"], refiled["filings"], refiled["late"]) == ("submitted", 2, False)
    assert world.post(world.province, f"{path}/accept", {}).status_code == 409  # not endorsed yet
    assert world.ok(world.post(bureau, f"{path}/endorse", {"reason": "同意"}))["state"] == "endorsed"
    accepted = world.ok(world.post(world.province, f"{path}/accept", {}))
    assert [h["event"] for h in accepted["history"]] == ["create", "return", "refile", "endorse", "accept"]

    first = world.get(mine, path)
    assert world.get(mine, path, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    page = world.ok(world.get(mine, f"/v1/projects/{reporting['id']}"))
    assert [(r["id"], r["year"], r["state"], r["late"]) for r in page["reports"]] == [
        (report["id"], YEAR, "accepted", False)
    ]
    wait_until(
        lambda: {"annual_report_returned", "annual_report_accepted"} <= set(world.inbox_kinds(mine)),
        what="the institution told of the return and the acceptance",
    )
    wait_until(
        lambda: "annual_report_due" in world.inbox_kinds(world.as_institution(silent)),
        what="the institution that has not filed reminded before the deadline",
    )

    overdue = f"/v1/report-windows/{window['id']}/overdue"
    listed = wait_until(
        lambda: (o := world.ok(world.get(world.province, overdue)))["past_due"] and o,
        timeout=20,
        what="the deadline to pass",
    )
    assert missing["id"] in [p["project_id"] for p in listed["missing"]]
    assert reporting["id"] not in [p["project_id"] for p in listed["missing"] + listed["late"]]
    told = wait_until(
        lambda: next(
            (
                e["event"]["data"]
                for e in world.stack.db("applications").outbox.find(
                    {"subject": window["id"], "name": "annual_reports_missing"}
                )
                if e["event"]["data"]["prefecture"] == CHANGSHA
            ),
            None,
        ),
        what="the bureau told of its missing reports",
    )
    assert missing["id"] in [m["project_id"] for m in told["missing"]]
    of_bureau = world.ok(world.get(bureau, overdue))
    assert {p["prefecture"] for p in of_bureau["missing"]} == {CHANGSHA}
    late = world.ok(
        world.post(
            world.as_institution(silent),
            f"/v1/projects/{missing['id']}/annual-reports",
            {"year": YEAR, **content("not_met", evidence="场地未完工")},
        ),
        201,
    )
    assert late["late"] is True
    assert late["id"] in [p["report_id"] for p in world.ok(world.get(world.province, overdue))["late"]]

    rows = world.ok(world.get(world.province, "/v1/reports/supervision", params={"year": YEAR}))["prefectures"]
    share = next(r for r in rows if r["prefecture"] == CHANGSHA)["measures"]["reports"]
    assert share is not None and 0 < share < 1
