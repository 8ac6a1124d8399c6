"""The review API beyond the main flow: the expert pool, idempotent runs, the review
deadline and what it reveals, withdrawals, and the one-per-prefecture ranking."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.service.review.world import resident_id, rfc3339, soon
from tests.support.servers import wait_until

pytestmark = pytest.mark.service


def sheet(total: int) -> dict:
    return {"scores": {"plan": total, "base": total // 2}, "comments": "评审意见：材料完整。"}


def review_all(world, call, totals: dict[str, int]) -> None:
    for a in world.assignments(call, status="assigned"):
        answer = world.as_expert(a["expert_id"]).put(
            world.url(f"/v1/assignments/{a['id']}/review"), json=sheet(totals[a["application_id"]]), timeout=30
        )
        assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------- the pool


def test_an_expert_is_created_without_echoing_id_numbers_and_a_person_is_in_the_pool_once(world):
    id_number, declared = resident_id(), resident_id()
    body = {
        "name": "周专家",
        "id_number": id_number,
        "institution_id": "inst-pool-1",
        "prefecture": "常德市",
        "fields": ["52"],
        "keywords": ["护理"],
        "categories": ["sv-specialty"],
        "conflict_id_numbers": [declared],
        "load_cap": 6,
    }
    created = world.province.post(world.url("/v1/experts"), json=body, timeout=30)
    assert created.status_code == 201, created.text
    assert id_number not in created.text and declared not in created.text
    assert created.json()["declared_conflict_people"] == 1 and created.json()["fields"] == ["52"]
    again = world.province.post(world.url("/v1/experts"), json={**body, "name": "周某"}, timeout=30)
    assert again.status_code == 409
    bad = world.province.post(world.url("/v1/experts"), json={**body, "fields": ["99"], "load_cap": 0}, timeout=30)
    assert bad.status_code == 422 and {"fields.0", "load_cap"} <= set(bad.json()["errors"])
    institution = world.stack.client("institution", institution_id="inst-pool-1")
    assert institution.post(world.url("/v1/experts"), json=body, timeout=30).status_code == 403


def test_a_pool_is_imported_from_csv_all_or_nothing_with_a_row_report(world):
    institution = f"inst-{uuid.uuid4().hex[:8]}"
    header = "姓名,身份证号,单位编号,市州,专业大类,关键词,评审类别,评审上限"
    good = [
        f"甲专家,{resident_id()},{institution},邵阳市,电子与信息大类,物联网；大数据,楚怡优质中职专业（群）,4",
        f"乙专家,{resident_id()},{institution},邵阳市,51、46,,sv-specialty,2",
    ]
    bad = world.province.post(
        world.url("/v1/experts:import"),
        files={
            "file": (
                "专家.csv",
                "\n".join([header, *good, "丙专家,123,inst-x,北京市,51,,sv-specialty,2"]).encode("utf-8"),
            )
        },
        timeout=30,
    )
    assert bad.status_code == 422
    errors = bad.json()["errors"]
    assert {"row 4.身份证号", "row 4.市州"} <= set(errors)
    assert all(" / " in m for messages in errors.values() for m in messages)  # 中文 / English
    listed = world.province.get(world.url("/v1/experts"), params={"institution_id": institution}, timeout=30)
    assert listed.json()["items"] == []  # nothing of the rejected file was kept

    done = world.province.post(
        world.url("/v1/experts:import"),
        files={"file": ("专家.csv", "\n".join([header, *good]).encode("utf-8"))},
        timeout=30,
    )
    assert done.status_code == 201, done.text
    assert done.json()["imported"] == 2
    page = world.province.get(world.url("/v1/experts"), params={"institution_id": institution, "limit": 1}, timeout=30)
    assert len(page.json()["items"]) == 1 and page.json()["next_cursor"]
    rest = world.province.get(
        world.url("/v1/experts"),
        timeout=30,
        params={"institution_id": institution, "cursor": page.json()["next_cursor"]},
    ).json()
    names = {page.json()["items"][0]["name"], *(e["name"] for e in rest["items"])}
    assert names == {"甲专家", "乙专家"} and rest["next_cursor"] is None
    by_field = world.province.get(
        world.url("/v1/experts"), timeout=30, params={"institution_id": institution, "field": "46"}
    ).json()["items"]
    assert [e["name"] for e in by_field] == ["乙专家"]


# ---------------------------------------------------------------- assignment runs


def test_a_run_retried_with_its_idempotency_key_assigns_once(world):
    call = world.open_call("edu-group", k=1)
    world.apply(call)
    world.expert(("edu-group",))
    world.close(call)
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    url = world.url(f"/v1/calls/{call.id}/assignments")
    body = {"review_deadline": soon(hours=1)}
    first = world.province.post(url, json=body, headers=headers, timeout=60)
    second = world.province.post(url, json=body, headers=headers, timeout=60)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true" and second.json()["id"] == first.json()["id"]
    assert len(world.assignments(call)) == 1
    later = soon(hours=3)
    assert world.run(call, review_deadline=later)["assigned"] == []  # a new run finds no open slot
    (standing,) = world.assignments(call)
    assert standing["review_deadline"][:19] == later[:19]  # and it may move the review deadline


def test_assignment_waits_for_the_call_to_close_and_needs_a_deadline_ahead(world):
    call = world.open_call("vu-school", k=1)
    world.apply(call)
    url = world.url(f"/v1/calls/{call.id}/assignments")
    wait_until(
        lambda: world.province.post(url, json={"review_deadline": soon(hours=1)}, timeout=30).status_code == 409,
        timeout=30,
        what="the call to be known",
    )
    world.close(call)
    past = world.province.post(url, json={"review_deadline": soon(hours=-1)}, timeout=30)
    assert past.status_code == 422 and "review_deadline" in past.json()["errors"]
    missing = world.province.post(url, json={}, timeout=30)
    assert missing.status_code == 422 and "review_deadline" in missing.json()["errors"]
    assert (
        world.province.post(
            world.url("/v1/calls/call-unknown/assignments"), json={"review_deadline": soon(hours=1)}, timeout=30
        ).status_code
        == 404
    )


def test_a_run_in_the_background_is_a_job_followed_until_its_assignments_stand(world, review_events):
    call = world.open_call("edu-group", k=1)
    world.apply(call)
    world.expert(("edu-group",))
    world.close(call)
    url = world.url(f"/v1/calls/{call.id}/assignments")
    accepted = world.province.post(url, json={"review_deadline": soon(hours=1), "background": True}, timeout=60)
    assert accepted.status_code == 202, accepted.text
    job = accepted.json()
    assert (job["call_id"], job["state"], job["progress"]["phase"]) == (call.id, "queued", "queued")
    assert accepted.headers["Location"] == f"/v1/assignment-jobs/{job['id']}"

    def finished():
        answer = world.province.get(world.url(accepted.headers["Location"]), timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json() if answer.json()["state"] in ("done", "failed") else None

    done = wait_until(finished, timeout=60, what="the assignment job to finish")
    assert done["state"] == "done", done
    assert done["progress"] == {"phase": "done"} and done["started_at"] and done["finished_at"]
    assert done["run"]["assigned_count"] == 1 and "assigned" not in done["run"]
    [assigned] = world.assignments(call, run_id=done["run"]["id"])
    assert [a["id"] for a in world.assignments(call)] == [assigned["id"]]
    [event] = review_events.wait("experts_assigned", call.id)
    assert [a["assignment_id"] for a in event["assignments"]] == [assigned["id"]]
    expert = world.as_expert(assigned["expert_id"]).get(world.url(accepted.headers["Location"]), timeout=30)
    assert expert.status_code == 403


# ---------------------------------------------------------------- the deadline


def test_after_the_deadline_reviews_close_others_show_and_the_ranking_may_be_published(world):
    call = world.open_call("vu-group", k=2, quota=1)
    app = world.apply(call, prefecture="长沙市")
    first, second = world.expert(("vu-group",)), world.expert(("vu-group",))
    world.close(call)
    world.run(call, review_deadline=soon(seconds=15))  # room for the steps before it on a loaded machine
    mine = next(a for a in world.assignments(call) if a["expert_id"] == first)
    theirs = next(a for a in world.assignments(call) if a["expert_id"] == second)
    expert = world.as_expert(first)
    review_url = world.url(f"/v1/assignments/{mine['id']}/review")
    assert expert.put(review_url, json=sheet(80), timeout=30).status_code == 200
    publish = world.url(f"/v1/calls/{call.id}/ranking")
    early = world.province.post(publish, timeout=30)
    assert early.status_code == 409 and "1 review" in early.json()["detail"]

    # edits are taken until the deadline, refused from then on
    edits = []

    def edit_refused() -> bool:
        edits.append(expert.put(review_url, json=sheet(90), timeout=30).status_code)
        return edits[-1] == 409

    wait_until(edit_refused, timeout=45, interval=0.5, what="the review deadline")
    taken = edits[:-1]
    assert set(taken) <= {200}
    view = expert.get(review_url, timeout=30).json()
    assert view["review"]["total_hundredths"] == (9000 if taken else 8000) and view["editable"] is False
    assert view["others_visible"] is True and view["others"] == []  # the other expert never submitted
    late = world.as_expert(second).put(world.url(f"/v1/assignments/{theirs['id']}/review"), json=sheet(70), timeout=30)
    assert late.status_code == 409
    published = world.province.post(publish, timeout=30)
    assert published.status_code == 200, published.text
    (entry,) = published.json()["entries"]
    assert (entry["application_id"], entry["review_count"], entry["within_quota"]) == (app, 1, True)


def test_once_both_have_submitted_and_the_deadline_passed_each_sees_the_others_scores(world):
    call = world.open_call("workshop", k=2)
    world.apply(call)
    first, second = world.expert(("workshop",)), world.expert(("workshop",))
    world.close(call)
    deadline = datetime.now(timezone.utc) + timedelta(seconds=6)
    world.run(call, review_deadline=rfc3339(deadline))
    by_expert = {a["expert_id"]: a for a in world.assignments(call)}
    for expert_id, total in ((first, 76), (second, 84)):
        url = world.url(f"/v1/assignments/{by_expert[expert_id]['id']}/review")
        assert world.as_expert(expert_id).put(url, json=sheet(total), timeout=30).status_code == 200
    url = world.url(f"/v1/assignments/{by_expert[first]['id']}/review")
    before = world.as_expert(first).get(url, timeout=30).json()
    if datetime.now(timezone.utc) < deadline:  # answered before the deadline (a loaded machine may be slower)
        assert before["others_visible"] is False and before["others"] == []
    after = wait_until(
        lambda: (v := world.as_expert(first).get(url, timeout=30).json())["others_visible"] and v,
        timeout=30,
        what="the review deadline",
    )
    (other,) = after["others"]
    assert other["total_hundredths"] == 8400 and "expert_id" not in other and other["reviewer"] in "AB"
    assert len(world.province.get(url, timeout=30).json()["others"]) == 1  # the province sees all, any time


# ---------------------------------------------------------------- withdrawals


def test_a_withdrawn_application_leaves_its_assignments_and_after_publication_the_reserve_moves_up(world):
    call = world.open_call("master-studio", k=1, quota=1)
    gone, best, second = (world.apply(call) for _ in range(3))
    expert = world.expert(("master-studio",))
    world.close(call)
    world.run(call)
    world.withdraw(call, gone)
    wait_until(
        lambda: [a["application_id"] for a in world.assignments(call, status="void")] == [gone],
        timeout=30,
        what="the withdrawal",
    )
    void = world.assignments(call, status="void")[0]
    assert void["reason"] == "申报单位撤回" and void["expert_id"] == expert
    review_all(world, call, {best: 90, second: 80})
    ranking = world.province.get(world.url(f"/v1/calls/{call.id}/ranking"), timeout=30).json()
    assert [e["application_id"] for e in ranking["entries"]] == [best, second]
    assert world.province.post(world.url(f"/v1/calls/{call.id}/ranking"), timeout=30).status_code == 200
    notice = world.province.post(world.url(f"/v1/calls/{call.id}/notice"), json={}, timeout=30)
    assert notice.status_code == 201, notice.text
    assert [s["application_id"] for s in notice.json()["selected"]] == [best]

    world.withdraw(call, best)
    public = wait_until(
        lambda: (
            (n := requests.get(world.url(f"/v1/calls/{call.id}/notice"), timeout=30).json())["selected"][0][
                "application_id"
            ]
            == second
            and n
        ),
        timeout=30,
        what="the reserve to move up",
    )
    assert [r["application_id"] for r in public["removed"]] == [best]
    assert public["window_open"] is True  # the default window: five working days


# ---------------------------------------------------------------- one per prefecture


def test_sv_prefecture_ranks_one_per_prefecture_and_reports_each_prefecture(world):
    call = world.open_call("sv-prefecture", k=1, quota=14, prefecture_cap=1)
    apps = {
        "cs1": world.apply(call, prefecture="长沙市"),
        "cs2": world.apply(call, prefecture="长沙市"),
        "zz": world.apply(call, prefecture="株洲市"),
        "xt": world.apply(call, prefecture="湘潭市"),
    }
    world.expert(("sv-prefecture",), prefecture="怀化市", cap=10)
    world.close(call)
    world.run(call)
    assert world.violations(call, world.standing(call)) == []
    review_all(world, call, {apps["cs1"]: 90, apps["cs2"]: 86, apps["zz"]: 60, apps["xt"]: 70})
    ranking = world.province.get(world.url(f"/v1/calls/{call.id}/ranking"), timeout=30).json()
    entries = {e["application_id"]: e for e in ranking["entries"]}
    assert [e["application_id"] for e in ranking["entries"] if e["within_quota"]] == [
        apps["cs1"],
        apps["xt"],
        apps["zz"],
    ]
    assert entries[apps["cs2"]]["held_back_by"] == "prefecture_cap" and ranking["reserve"] == [apps["cs2"]]
    prefectures = {p["prefecture"]: p for p in ranking["prefectures"]}
    assert len(prefectures) == 14 and ranking["one_per_prefecture"] is True
    assert {p for p, r in prefectures.items() if r["satisfied"]} == {"长沙市", "株洲市", "湘潭市"}
    assert prefectures["长沙市"]["ranked"] == 2 and prefectures["怀化市"]["selected"] == 0
    assert ranking["shortfall"] == 11
