"""A call through review to selection, over HTTP: experts, assignment, a decline and its
replacement, reviews, calibrated ranking, the public notice, an upheld objection that
moves the reserve up, a dismissed one, finalization; and the events of each step."""

import pytest
import requests

from tests.service.review.world import soon
from tests.support.servers import wait_until

pytestmark = pytest.mark.service

CATEGORY = "hv-group"
QUALITY = {"A": 90, "B": 80, "C": 70, "D": 60}  # points; the expected order
OFFSETS = [6, -6, 2, -2, 0]  # each expert's leniency, in points


def sheet(total: int) -> dict:
    """Scores whose weighted total is `total` points: plan (weight 60, out of 100), base (40, out of 50)."""
    return {"scores": {"plan": total, "base": total // 2}, "comments": f"总体评价：{total}分档，建设基础扎实。"}


def test_a_call_from_assignment_to_finalized_selection(world, stack, review_events):
    call = world.open_call(CATEGORY, quota=2, k=2)
    apps = {
        name: world.apply(call, prefecture=prefecture, minutes_ago=60 - i)
        for i, (name, prefecture) in enumerate(zip(QUALITY, ["长沙市", "株洲市", "湘潭市", "衡阳市"]))
    }
    name_of = {app: name for name, app in apps.items()}
    experts = [
        world.expert((CATEGORY,), prefecture=p, cap=4) for p in ["岳阳市", "常德市", "益阳市", "郴州市", "永州市"]
    ]
    offset = dict(zip(experts, OFFSETS))
    world.close(call)

    # assignment: every slot filled, no rule broken
    run = world.run(call, review_deadline=soon(hours=2))
    assert len(run["assigned"]) == 8 and run["unfilled"] == []
    quality = run["quality"]
    assert (quality["slots"], quality["filled"], quality["coverage"]) == (8, 8, 1.0)
    assert quality["total_affinity"] > 0 and quality["load"]["max_load"] <= 4 and run["seconds"] >= 0
    assert world.violations(call, world.standing(call)) == []
    (assigned_event,) = review_events.wait("experts_assigned", call.id)
    assert {a["assignment_id"] for a in assigned_event["assignments"]} == {a["id"] for a in run["assigned"]}

    # an expert declines; only that slot is solved again, never with the same expert
    declined = next(a for a in run["assigned"] if a["application_id"] == apps["A"])
    decliner = world.as_expert(declined["expert_id"])
    answer = decliner.post(
        world.url(f"/v1/assignments/{declined['id']}/decline"), json={"reason": "时间冲突，无法参加"}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    replacement = answer.json()["replacement"]
    assert answer.json()["assignment"]["status"] == "declined"
    (new,) = replacement["assigned"]
    assert new["application_id"] == apps["A"] and new["expert_id"] != declined["expert_id"]
    pairs = world.standing(call)
    assert len(pairs) == 8 and (apps["A"], declined["expert_id"]) not in pairs
    assert world.violations(call, pairs) == []
    review_events.wait("assignment_declined", call.id, assignment_id=declined["id"], reason="时间冲突，无法参加")
    review_events.wait("experts_assigned", call.id, count=2)

    # reviews: before submitting, nothing of the others shows; a bad sheet names the criterion
    standing = world.assignments(call, status="assigned")
    first = standing[0]
    reviewer = world.as_expert(first["expert_id"])
    view = reviewer.get(world.url(f"/v1/assignments/{first['id']}/review"), timeout=30).json()
    assert (view["review"], view["others_visible"], view["others"], view["editable"]) == (None, False, [], True)
    assert [c["code"] for c in view["rubric"]] == ["plan", "base"]
    bad = reviewer.put(
        world.url(f"/v1/assignments/{first['id']}/review"),
        json={"scores": {"plan": 101, "base": 10}, "comments": "好"},
        timeout=30,
    )
    assert bad.status_code == 422 and "scores.plan" in bad.json()["errors"]
    stranger = world.as_expert(next(e for e in experts if e != first["expert_id"]))
    assert stranger.get(world.url(f"/v1/assignments/{first['id']}/review"), timeout=30).status_code == 404

    for a in standing:
        total = QUALITY[name_of[a["application_id"]]] + offset[a["expert_id"]]
        answer = world.as_expert(a["expert_id"]).put(
            world.url(f"/v1/assignments/{a['id']}/review"), json=sheet(total), timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["review"]["total_hundredths"] == total * 100
    view = reviewer.get(world.url(f"/v1/assignments/{first['id']}/review"), timeout=30).json()
    assert view["review"] is not None and view["others_visible"] is False and view["others"] == []
    review_events.wait("review_submitted", call.id, count=8)
    completed = review_events.wait("reviews_completed", call.id, count=4)
    assert {c["application_id"] for c in completed} == set(apps.values())

    # the ranking: calibrated, the quota is the cut line, the rest is the reserve
    ranking = world.province.get(world.url(f"/v1/calls/{call.id}/ranking"), timeout=30).json()
    assert ranking["status"] == "draft" and ranking["outstanding_reviews"] == 0
    assert [name_of[e["application_id"]] for e in ranking["entries"]] == ["A", "B", "C", "D"]
    assert [e["within_quota"] for e in ranking["entries"]] == [True, True, False, False]
    assert ranking["reserve"] == [apps["C"], apps["D"]]
    for entry in ranking["entries"]:
        given = [
            QUALITY[name_of[a["application_id"]]] + offset[a["expert_id"]]
            for a in standing
            if a["application_id"] == entry["application_id"]
        ]
        assert entry["review_count"] == 2
        assert entry["raw_mean_hundredths"] == sum(given) * 100 // len(given)
        if entry["band_low_hundredths"] is not None:
            assert entry["band_low_hundredths"] <= entry["calibrated_hundredths"] <= entry["band_high_hundredths"]
    assert all(p["satisfied"] for p in ranking["prefectures"])
    assert {c["application_id"]: c["raw_mean_hundredths"] for c in completed} == {
        e["application_id"]: e["raw_mean_hundredths"] for e in ranking["entries"]
    }

    published = world.province.post(world.url(f"/v1/calls/{call.id}/ranking"), timeout=30)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    (event,) = review_events.wait("ranking_published", call.id)
    assert [e["application_id"] for e in event["selected"]] == [apps["A"], apps["B"]]
    assert [e["application_id"] for e in event["reserve"]] == [apps["C"], apps["D"]]
    late = reviewer.put(world.url(f"/v1/assignments/{first['id']}/review"), json=sheet(50), timeout=30)
    assert late.status_code == 409 and late.json()["type"] == "urn:chuyi:problem:review-closed"
    assert (
        late.json()["detail"]
        == "该遴选批次的排名已发布，评审已结束。 / The call's ranking is published: reviews are closed."
    )

    # the public notice: readable without a token; objections only during the window
    notice = world.province.post(
        world.url(f"/v1/calls/{call.id}/notice"), json={"closes_at": soon(seconds=8)}, timeout=30
    )
    assert notice.status_code == 201, notice.text
    public = requests.get(world.url(f"/v1/calls/{call.id}/notice"), timeout=30)
    assert public.status_code == 200 and public.json()["window_open"] is True
    assert [s["application_id"] for s in public.json()["selected"]] == [apps["A"], apps["B"]]
    review_events.wait("notice_published", call.id)
    finalize = world.url(f"/v1/calls/{call.id}/finalize")
    early = world.province.post(finalize, timeout=30)
    assert early.status_code == 409 and early.json()["type"] == "urn:chuyi:problem:transition-blocked"
    assert "the call is in its public notice (公示) ('noticed'); the notice window closes at" in early.json()["detail"]
    assert early.json()["detail"].split(" / ")[0].startswith("遴选批次当前处于公示期（noticed），不能确定立项")

    objector = stack.client("institution", institution_id="inst-objector")
    objections = world.url(f"/v1/calls/{call.id}/objections")
    upheld = objector.post(
        objections, json={"application_id": apps["A"], "grounds": "申报材料中的业绩数据不实"}, timeout=30
    )
    assert upheld.status_code == 201, upheld.text
    pending = stack.client("prefecture", prefecture="长沙市").post(
        objections, json={"application_id": apps["B"], "grounds": "合作企业资质存疑"}, timeout=30
    )
    assert pending.status_code == 201, pending.text
    not_selected = objector.post(objections, json={"application_id": apps["D"], "grounds": "材料不实"}, timeout=30)
    assert not_selected.status_code == 422 and "application_id" in not_selected.json()["errors"]
    review_events.wait("objection_filed", call.id, count=2)

    resolve = world.url(f"/v1/objections/{upheld.json()['id']}/resolve")
    answer = world.province.post(resolve, json={"decision": "upheld", "reason": "经核查，业绩数据确有不实"}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["removed"], answer.json()["promoted"]) == ([apps["A"]], [apps["C"]])
    review_events.wait("objection_resolved", call.id, upheld=True, removed=[apps["A"]], promoted=[apps["C"]])
    public = requests.get(world.url(f"/v1/calls/{call.id}/notice"), timeout=30).json()
    assert [s["application_id"] for s in public["selected"]] == [apps["B"], apps["C"]]
    assert [r["application_id"] for r in public["removed"]] == [apps["A"]]

    # after the window: no more objections, and finalization waits for the open one
    wait_until(
        lambda: "objection" in world.province.post(finalize, timeout=30).json()["detail"],
        timeout=30,
        what="the window to close",
    )
    too_late = objector.post(objections, json={"application_id": apps["B"], "grounds": "补充异议"}, timeout=30)
    assert too_late.status_code == 409
    dismissed = world.province.post(
        world.url(f"/v1/objections/{pending.json()['id']}/resolve"),
        json={"decision": "dismissed", "reason": "经核查，资质齐全"},
        timeout=30,
    )
    assert dismissed.status_code == 200 and dismissed.json()["status"] == "dismissed"

    final = world.province.post(finalize, timeout=30)
    assert final.status_code == 200, final.text
    assert [(a["application_id"], a["rank"]) for a in final.json()["approved"]] == [(apps["B"], 1), (apps["C"], 2)]
    (selection,) = review_events.wait("selection_finalized", call.id)
    assert (selection["category"], selection["funding_rule"], selection["quota"]) == (CATEGORY, "rule-tiered-2026", 2)
    b = call.applications[apps["B"]]
    assert selection["approved"][0] == {
        "application_id": apps["B"],
        "institution_id": b.institution_id,
        "prefecture": "株洲市",
        "rank": 1,
        "title": f"{b.institution_id}的建设项目",
        "budget_request_fen": call.budgets[apps["B"]],
    }
    # the reserve list of the final cut, after the upheld objection moved C up: the province may fill a place from it
    assert [(r["application_id"], r["rank"], r["reserve_position"]) for r in selection["reserve"]] == [
        (apps["D"], 3, 1)
    ]
    again = world.province.post(finalize, timeout=30)
    assert again.status_code == 409 and again.json()["type"] == "urn:chuyi:problem:transition-not-allowed"
    assert "the call is finalized (立项) ('finalized'). No step leads from there to it." in again.json()["detail"]
