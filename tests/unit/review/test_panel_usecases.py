"""The panels' use cases (services/review/usecases/panels.py) on the in-memory store
(fakes.py): what each step reads, decides and writes, and the events it emits, each checked
against review's contract (services/contracts/review_events.py)."""

from datetime import datetime, timedelta, timezone

import pytest

from services.common.replies import Refused
from services.common.statemachine import ReasonRequired, TransitionNotAllowed
from services.review.store import PanelAssignmentNotFound, new_id
from services.common.errors import FieldErrors
from services.review.usecases import panels as cases
from tests.unit.review.fakes import FakeReviewStore

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
RUBRIC = [
    {"code": "progress", "name": "建设进度", "weight": 60, "max_score": 100},
    {"code": "money", "name": "资金执行", "weight": 40, "max_score": 50},
]


def expert_doc(institution_id, prefecture="株洲市", category="hv-group"):
    key = new_id("pk")
    return {
        "name": f"专家{key[-4:]}",
        "institution_id": institution_id,
        "prefecture": prefecture,
        "person_key": key,
        "load_cap": 5,
        "fields": ["46"],
        "keywords": [],
        "categories": [category],
        "conflict_institution_ids": [],
        "conflict_person_keys": [],
        "available": True,
    }


@pytest.fixture
def store():
    s = FakeReviewStore()
    for pid, institution, prefecture in (("app_a", "inst_a", "长沙市"), ("app_b", "inst_b", "衡阳市")):
        cases.project_established(
            s,
            {
                "project_id": pid,
                "call_id": "call_1",
                "category": "hv-group",
                "year": 2023,
                "institution_id": institution,
                "prefecture": prefecture,
                "title": f"专业群{pid}",
            },
        )
    s.add_experts([expert_doc("inst_a", "岳阳市"), *(expert_doc(f"inst_{n}") for n in "xyz")], "province:admin")
    return s


def open_panel(store, **extra):
    data = {
        "milestone": "mid_term",
        "title": "2023年中期检查",
        "project_ids": ["app_a", "app_b"],
        "rubric": RUBRIC,
        "reviewers_per_project": 2,
        "conflict_same_prefecture": None,
        "review_deadline": NOW + timedelta(days=7),
        "thresholds": {"pass_from": 7500, "rectify_from": 6000},
        "rectify_days": 90,
        **extra,
    }
    return cases.open_panel(store, data, "province:admin", NOW)


def review_all(store, panel_id, points):
    for a in store.panel_assignments(panel_id):
        p = points[a["project_id"]]
        cases.put_panel_review(
            store,
            {"role": "expert", "expert_id": a["expert_id"]},
            a["_id"],
            {"scores": {"progress": p, "money": p // 2}, "comments": "意见"},
            f"expert:{a['expert_id']}",
            NOW + timedelta(hours=1),
        )


def test_a_panel_runs_from_opening_to_a_confirmed_fail_that_funding_is_told_of(store):
    panel = open_panel(store)
    assert panel["status"] == "open" and "75.00分及以上通过" in panel["rule"]
    run = cases.assign_panel(store, panel["_id"], "province:admin", NOW)
    (own,) = [e["_id"] for e in store.experts() if e["institution_id"] == "inst_a"]  # of app_a's institution
    pairs = {(a["project_id"], a["expert_id"]) for a in run["assigned"]}
    assert len(pairs) == 4 and ("app_a", own) not in pairs and run["quality"]["coverage"] == 1.0
    review_all(store, panel["_id"], {"app_a": 40, "app_b": 90})
    proposed = cases.propose_results(store, panel["_id"], "province:admin", NOW + timedelta(hours=2))
    assert proposed["status"] == "proposed"
    assert {p: r["proposed_result"] for p, r in proposed["results"].items()} == {"app_a": "fail", "app_b": "pass"}
    result = cases.confirm_result(store, panel["_id"], "app_a", {}, "province:admin", NOW + timedelta(hours=3))
    assert (result["status"], result["result"], result["overridden"]) == ("confirmed", "fail", False)
    assert store.project_docs["app_a"]["state"] == "failed" and store.project_docs["app_a"]["results"] == {
        "mid_term": "fail"
    }
    assert store.panel_docs[panel["_id"]]["status"] == "proposed"  # app_b is still to confirm
    cases.confirm_result(store, panel["_id"], "app_b", {}, "province:admin", NOW + timedelta(hours=3))
    assert store.panel_docs[panel["_id"]]["status"] == "closed"
    names = [name for name, _, _ in store.emitted]
    assert names.count("panel_review_submitted") == 4  # one per review, for notify's reminders
    names = [name for name in names if name != "panel_review_submitted"]
    assert names == [
        "panel_opened",
        "panel_experts_assigned",
        "panel_results_proposed",
        "panel_result_confirmed",
        "panel_result_confirmed",
    ]
    confirmed = [e for e in store.emitted if e[0] == "panel_result_confirmed"][0]
    assert confirmed[1] == "app_a" and confirmed[2]["result"] == "fail" and confirmed[2]["reason"].startswith("专家组")
    with pytest.raises(TransitionNotAllowed):
        cases.confirm_result(store, panel["_id"], "app_a", {}, "province:admin", NOW + timedelta(hours=4))


def test_the_panel_waits_for_its_reviews_and_then_closes_them(store):
    panel = open_panel(store)
    cases.assign_panel(store, panel["_id"], "province:admin", NOW)
    with pytest.raises(Refused) as early:
        cases.propose_results(store, panel["_id"], "province:admin", NOW)
    assert early.value.status == 409 and early.value.type == "panel-not-ready"
    review_all(store, panel["_id"], {"app_a": 70, "app_b": 70})
    cases.propose_results(store, panel["_id"], "province:admin", NOW + timedelta(hours=2))
    first = store.panel_assignments(panel["_id"])[0]
    with pytest.raises(Refused) as closed:
        cases.put_panel_review(
            store,
            {"role": "expert", "expert_id": first["expert_id"]},
            first["_id"],
            {"scores": {"progress": 1, "money": 1}, "comments": "迟到"},
            "expert:x",
            NOW,
        )
    assert closed.value.type == "review-closed"


def test_an_expert_scores_only_their_own_assignment(store):
    panel = open_panel(store)
    cases.assign_panel(store, panel["_id"], "province:admin", NOW)
    first = store.panel_assignments(panel["_id"])[0]
    with pytest.raises(PanelAssignmentNotFound):
        cases.put_panel_review(
            store,
            {"role": "expert", "expert_id": "exp_someone"},
            first["_id"],
            {"scores": {"progress": 1, "money": 1}, "comments": "x"},
            "expert:someone",
            NOW,
        )


def test_an_override_needs_a_reason_and_says_so_to_funding(store):
    panel = open_panel(store)
    cases.assign_panel(store, panel["_id"], "province:admin", NOW)
    review_all(store, panel["_id"], {"app_a": 40, "app_b": 90})
    cases.propose_results(store, panel["_id"], "province:admin", NOW + timedelta(hours=2))
    with pytest.raises(FieldErrors) as refused:
        cases.confirm_result(store, panel["_id"], "app_a", {"result": "rectify"}, "province:admin", NOW)
    assert list(refused.value.errors) == ["reason"]
    result = cases.confirm_result(
        store, panel["_id"], "app_a", {"result": "rectify", "reason": "已补交整改方案"}, "province:admin", NOW
    )
    assert (result["result"], result["overridden"], result["rectify_by"]) == ("rectify", True, NOW + timedelta(days=90))
    assert result["history"][-1]["event"] == "override" and result["history"][-1]["reason"] == "已补交整改方案"
    event = store.emitted[-1][2]
    assert (event["result"], event["proposed_result"], event["overridden"]) == ("rectify", "fail", True)
    assert event["rectify_by"] == "2026-08-30T02:00:00Z" and store.project_docs["app_a"]["state"] == "standing"


def test_a_project_in_an_open_panel_or_failed_is_not_taken_again(store):
    open_panel(store)
    with pytest.raises(FieldErrors) as busy:
        open_panel(store, project_ids=["app_a"])
    assert list(busy.value.errors) == ["project_ids.0"]
    cases.project_failed(store, {"project_id": "app_b", "milestone": "mid_term"})
    with pytest.raises(FieldErrors) as failed:
        open_panel(store, milestone="acceptance", project_ids=["app_b"])
    assert "考核未通过退出" in failed.value.errors["project_ids.0"][0].zh
    cases.project_established(
        store,
        {
            "project_id": "app_w",
            "call_id": "call_1",
            "category": "hv-group",
            "year": 2023,
            "institution_id": "inst_w",
            "prefecture": "长沙市",
            "title": "撤销的项目",
        },
    )
    cases.project_withdrawn(store, {"project_id": "app_w"})
    with pytest.raises(FieldErrors) as withdrawn:
        open_panel(store, project_ids=["app_w"])
    assert "已撤销" in withdrawn.value.errors["project_ids.0"][0].zh
    with pytest.raises(FieldErrors) as past:
        open_panel(store, project_ids=None, category="hv-group", review_deadline=NOW)
    assert list(past.value.errors) == ["review_deadline"]


def test_a_project_keeps_what_its_application_told_review(store):
    store.keep_candidate(
        "app_c",
        {"institution_name": "某职院", "industry_fields": ["46"], "keywords": ["数控"], "team_person_keys": ["pk_1"]},
    )
    cases.project_established(
        store,
        {
            "project_id": "app_c",
            "call_id": "call_1",
            "category": "hv-group",
            "year": 2023,
            "institution_id": "inst_c",
            "prefecture": "长沙市",
            "title": "数控专业群",
        },
    )
    kept = store.project_docs["app_c"]
    assert (kept["institution_name"], kept["team_person_keys"], kept["state"]) == ("某职院", ["pk_1"], "standing")


def test_a_declined_project_gets_a_replacement_never_the_same_expert_again(store):
    store.add_experts([expert_doc("inst_w")], "province:admin")
    panel = open_panel(store)
    cases.assign_panel(store, panel["_id"], "province:admin", NOW)
    first = store.panel_assignments(panel["_id"], "app_b")[0]
    with pytest.raises(ReasonRequired):
        cases.decline_panel_assignment(
            store, {"role": "expert", "expert_id": first["expert_id"]}, first["_id"], " ", "expert:x", NOW
        )
    done = cases.decline_panel_assignment(
        store,
        {"role": "expert", "expert_id": first["expert_id"]},
        first["_id"],
        "与项目单位有合作关系",
        f"expert:{first['expert_id']}",
        NOW,
    )
    assert done["assignment"]["status"] == "declined" and done["assignment"]["reason"] == "与项目单位有合作关系"
    replacement = done["replacement"]["assigned"]
    assert len(replacement) == 1 and replacement[0]["project_id"] == "app_b"
    assert replacement[0]["expert_id"] != first["expert_id"]
    standing = [a for a in store.panel_assignments(panel["_id"], "app_b") if a["status"] in ("assigned", "reviewed")]
    assert len(standing) == 2 and first["expert_id"] not in {a["expert_id"] for a in standing}
    assert [n for n, _, _ in store.emitted][-2:] == ["panel_assignment_declined", "panel_experts_assigned"]


def test_a_milestone_passed_by_the_provinces_direct_record_is_not_offered_again(store):
    release = {
        "project_id": "app_a",
        "call_id": "call_1",
        "tranche": {
            "index": 2,
            "trigger": "mid_term",
            "percent": 30,
            "amount": {"currency": "CNY", "total": 300, "by_source": {"provincial_special": 300}},
        },
    }
    cases.tranche_released(store, {**release, "tranche": {**release["tranche"], "index": 1, "trigger": "approval"}})
    assert store.project_docs["app_a"]["results"] == {}
    cases.tranche_released(store, release)
    with pytest.raises(FieldErrors) as passed:
        open_panel(store, project_ids=["app_a"])
    assert "已通过" in passed.value.errors["project_ids.0"][0].zh
    assert open_panel(store, milestone="acceptance", project_ids=["app_a"])["project_ids"] == ["app_a"]


def test_a_passed_rectification_deadline_is_told_once_and_a_later_pass_ends_it(store):
    panel = open_panel(store)
    cases.assign_panel(store, panel["_id"], "province:admin", NOW)
    review_all(store, panel["_id"], {"app_a": 68, "app_b": 66})  # both between rectify_from and pass_from
    cases.propose_results(store, panel["_id"], "province:admin", NOW + timedelta(hours=2))
    for project_id in ("app_a", "app_b"):
        cases.confirm_result(store, panel["_id"], project_id, {}, "province:admin", NOW + timedelta(hours=3))
    deadline = NOW + timedelta(hours=3, days=90)
    assert cases.tell_rectifications_due(store, deadline - timedelta(seconds=1)) == 0
    release = {
        "project_id": "app_b",
        "call_id": "call_1",
        "tranche": {
            "index": 2,
            "trigger": "mid_term",
            "percent": 30,
            "amount": {"currency": "CNY", "total": 300, "by_source": {"provincial_special": 300}},
        },
    }
    cases.tranche_released(store, release)  # app_b passed a follow-up review before its deadline
    assert cases.tell_rectifications_due(store, deadline) == 1
    name, subject, data = store.emitted[-1]
    assert (name, subject) == ("rectification_due", "app_a")
    assert (data["panel_id"], data["milestone"], data["institution_id"]) == (panel["_id"], "mid_term", "inst_a")
    assert data["rectify_by"] == "2026-08-30T05:00:00Z"
    assert cases.tell_rectifications_due(store, deadline + timedelta(days=1)) == 0
