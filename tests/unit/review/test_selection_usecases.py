"""The selection's use cases (services/review/usecases: candidates, assignment, reviews,
selection) on the in-memory store (fakes.py): a call heard of from applications' events,
its experts assigned and replaced, its reviews, the ranking within the quota, the public
notice and its objections, and the final selection funding is told of; each checked by what
a user would notice (the reply, the refusal, the events, each against review's contract
services/contracts/review_events.py). The stack tests (tests/service/review) keep the
routes, the events on the wire and what only a real database can race."""

from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from services.common.replies import Refused
from services.contracts.applications_events import EVENTS as APPLICATION_EVENTS
from services.contracts.review_events import EVENTS
from services.contracts import review_api
from services.review.domain.notice import TransitionBlocked
from services.review.domain.reviews import STANDING
from services.review.store import AssignmentNotFound, new_id
from services.review.usecases import assignment, candidates, reviews, selection
from tests.unit.review.fakes import FakeReviewStore

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)  # a Monday
PROVINCE = "province:admin"
RUBRIC = [
    {"code": "plan", "name": "建设方案", "weight": 60, "max_score": 100},
    {"code": "team", "name": "团队", "weight": 40, "max_score": 100},
]
# application -> (institution, prefecture, the points both reviewers give)
APPLICATIONS = {
    "app_1": ("inst_1", "长沙市", 90),
    "app_2": ("inst_2", "长沙市", 80),
    "app_3": ("inst_3", "衡阳市", 70),
    "app_4": ("inst_4", "岳阳市", 60),
}


def handle(store, name, data, *args):
    """Applications' event as review's handler takes it: loaded with the producer's schema,
    applied in the handler's transaction."""
    store.atomic(lambda: getattr(candidates, name)(store, APPLICATION_EVENTS[name].load(data), *args))


def withdraw_app_1(store, from_state, reason, at):
    """app_1 (of inst_1, 长沙市) withdrawn by its institution, as applications announces it."""
    data = {
        "application_id": "app_1",
        "call_id": "call_1",
        "institution_id": "inst_1",
        "prefecture": "长沙市",
        "category": "hv-group",
        "from_state": from_state,
        "reason": reason,
    }
    handle(store, "application_withdrawn", data, at)


def eligible(s, call_id, app, institution, prefecture, fields, keywords, team_key):
    """An application of `institution` found eligible, as applications announces it to review."""
    handle(
        s,
        "eligibility_checked",
        {
            "application_id": app,
            "call_id": call_id,
            "institution_id": institution,
            "prefecture": prefecture,
            "category": "hv-group",
            "eligible": True,
            "overridden": False,
            "decided_by": "system",
            "findings": [],
            "applicant": {
                "institution_name": f"{institution}职院",
                "institution_type": "higher_vocational",
                "title": f"专业群{app}",
                "summary": "建设方案",
                "industry_fields": fields,
                "keywords": keywords,
                "team_person_keys": [team_key],
                "budget_request_fen": 5_000_000,
                "submitted_at": "2026-04-20T00:00:00Z",
            },
        },
        NOW,
    )


def expert(institution_id, prefecture="株洲市"):
    key = new_id("pk")
    return {
        "name": f"专家{key[-4:]}",
        "institution_id": institution_id,
        "prefecture": prefecture,
        "person_key": key,
        "load_cap": 5,
        "fields": ["46"],
        "keywords": ["数控"],
        "categories": ["hv-group"],
        "conflict_institution_ids": [],
        "conflict_person_keys": [],
        "available": True,
    }


@pytest.fixture
def store():
    """A closed call of quota 2 with one selected per prefecture at most, four eligible
    applications (two from 长沙市), and five experts, one of them from app_1's institution."""
    s = FakeReviewStore()
    handle(
        s,
        "call_opened",
        {
            "call_id": "call_1",
            "category": "hv-group",
            "title": "2026年高水平专业群",
            "quota": 2,
            "prefecture_cap": 1,
            "per_institution_limit": 1,
            "budget_min_fen": 0,
            "budget_max_fen": 10**9,
            "funding_rule": "rule_1",
            "opens_at": "2026-04-01T00:00:00Z",
            "closes_at": "2026-05-01T00:00:00Z",
            "year": 2026,
            "review_plan": {
                "reviewers_per_application": 2,
                "rubric": RUBRIC,
                "conflict_same_prefecture": False,
                "conflict_own_institution_applied": False,
            },
        },
    )
    for app, (institution, prefecture, _) in APPLICATIONS.items():
        eligible(s, "call_1", app, institution, prefecture, ["46"], ["数控"], f"pk_team_{app}")
    handle(
        s,
        "call_closed",
        {"call_id": "call_1", "category": "hv-group", "closed_at": "2026-05-01T00:00:00Z", "submitted_count": 4},
    )
    s.add_experts([expert("inst_1", "长沙市"), *(expert(f"inst_x{n}") for n in range(4))], PROVINCE)
    return s


def run(store, at=NOW):
    return assignment.run_assignment(store, "call_1", NOW + timedelta(days=7), PROVINCE, at)


def as_expert(a):
    return {"role": "expert", "sub": a["expert_id"], "expert_id": a["expert_id"]}


def review(store, a, points, at=NOW + timedelta(hours=1)):
    return reviews.put_review(
        store,
        as_expert(a),
        a["_id"],
        {"scores": {"plan": points, "team": points}, "comments": "意见"},
        f"expert:{a['expert_id']}",
        at,
    )


def review_all(store):
    for a in store.assignments("call_1"):
        if a["status"] in STANDING:
            review(store, a, APPLICATIONS[a["application_id"]][2])


def published(store):
    """All reviews in, the ranking and then the notice published."""
    run(store)
    review_all(store)
    ranking = selection.publish_ranking(store, "call_1", PROVINCE, NOW + timedelta(hours=2))
    terms = review_api.NoticeIn().load({})
    selection.publish_notice(store, "call_1", terms, PROVINCE, NOW + timedelta(hours=3))
    return ranking


def events(store, name):
    """The data of each `name` event emitted, each as review's contract has it."""
    found = [data for n, _, data in store.emitted if n == name]
    assert name in EVENTS and all(not EVENTS[name].validate(data) for data in found)
    return found


def test_an_assignment_run_gives_every_application_its_reviewers_and_no_expert_their_own(store):
    own = next(e for e in store.experts() if e["institution_id"] == "inst_1")
    done = run(store)
    pairs = {(a["application_id"], a["expert_id"]) for a in done["assigned"]}
    assert len(pairs) == 8 and ("app_1", own["_id"]) not in pairs
    assert done["unfilled"] == [] and done["quality"]["coverage"] == 1.0
    for app in APPLICATIONS:
        assert len({e for a, e in pairs if a == app}) == 2
    assert review_api.AssignmentRunOut().dump(done)["kind"] == "run"
    [assigned] = events(store, "experts_assigned")
    assert len(assigned["assignments"]) == 8 and assigned["unfilled"] == []
    assert {a["review_deadline"] for a in assigned["assignments"]} == {"2026-06-08T02:00:00Z"}
    # a second run keeps what stands and has nothing to add
    assert run(store)["assigned"] == [] and len(store.assignments("call_1")) == 8


def test_no_assignment_before_the_call_closes_or_without_experts(store):
    store.call_docs["call_1"].pop("closed_at")
    with pytest.raises(Refused) as still_open:
        run(store)
    assert (still_open.value.status, still_open.value.type) == (409, "call-not-closed")
    handle(
        store,
        "call_closed",
        {"call_id": "call_1", "category": "hv-group", "closed_at": "2026-05-01T00:00:00Z", "submitted_count": 4},
    )
    store.expert_docs.clear()
    with pytest.raises(Refused) as empty:
        run(store)
    assert empty.value.type == "expert-pool-empty" and store.emitted_names().count("experts_assigned") == 0


def test_a_declined_assignment_gets_a_replacement_never_the_same_expert_again(store):
    run(store)
    first = store.assignments(application_id="app_3")[0]
    with pytest.raises(AssignmentNotFound):  # another expert's assignment is not theirs to decline
        assignment.own_assignment(store, {"role": "expert", "expert_id": "exp_other"}, first["_id"])
    mine = assignment.own_assignment(store, as_expert(first), first["_id"])
    history = list(store.call("call_1")["history"])
    done = assignment.decline_assignment(
        store, mine, "与项目单位有合作关系", f"expert:{first['expert_id']}", NOW + timedelta(hours=1)
    )
    assert done["assignment"]["status"] == "declined" and done["assignment"]["reason"] == "与项目单位有合作关系"
    [replacement] = done["replacement"]["assigned"]
    assert replacement["application_id"] == "app_3" and replacement["expert_id"] != first["expert_id"]
    assert done["replacement"]["kind"] == "replacement"
    assert store.call("call_1")["history"] == history  # a national call's record would outgrow 16 MB of declines
    standing = [a for a in store.assignments(application_id="app_3") if a["status"] in STANDING]
    assert len(standing) == 2 and first["expert_id"] not in {a["expert_id"] for a in standing}
    assert store.emitted_names()[-2:] == ["assignment_declined", "experts_assigned"]
    declined = events(store, "assignment_declined")[0]
    assert (declined["assignment_id"], declined["reason"]) == (first["_id"], "与项目单位有合作关系")
    review_api.AssignmentDeclineOut().dump(done)


def test_a_replacement_is_the_best_expert_with_cap_left_in_the_call_and_solves_that_application_alone(store):
    run(store)
    loads = Counter(a["expert_id"] for a in store.assignments("call_1"))
    for doc in store.expert_docs.values():
        doc["load_cap"] = loads[doc["_id"]]  # every perfect match is at their cap in the call
    weaker, weakest = expert("inst_y1"), expert("inst_y2")
    weaker["keywords"], weakest["keywords"], weakest["fields"] = ["焊接"], ["焊接"], ["46", "47"]
    store.add_experts([weaker, weakest], PROVINCE)
    eligible(store, "call_1", "app_5", "inst_5", "岳阳市", ["46"], ["数控"], "pk_team_app_5")  # a late one, open
    first = store.assignments(application_id="app_3")[0]
    done = assignment.decline_assignment(store, first, "出差", f"expert:{first['expert_id']}", NOW + timedelta(hours=1))
    [replacement] = done["replacement"]["assigned"]
    assert (replacement["application_id"], replacement["expert_name"]) == ("app_3", weaker["name"])
    assert done["replacement"]["quality"]["slots"] == 2 and done["replacement"]["quality"]["coverage"] == 1.0
    assert store.assignments(application_id="app_5") == []  # the next run's to fill, not a decline's
    [told] = events(store, "experts_assigned")[-1:]
    assert [a["application_id"] for a in told["assignments"]] == ["app_3"] and told["unfilled"] == []


def test_a_replacement_looks_beyond_the_experts_sharing_a_field_when_keywords_alone_score_more(store):
    run(store)
    loads = Counter(a["expert_id"] for a in store.assignments("call_1"))
    for doc in store.expert_docs.values():
        doc["load_cap"] = loads[doc["_id"]]
    broad, keyword = expert("inst_y1"), expert("inst_y2")
    broad["fields"], broad["keywords"] = ["46", "41", "42", "43", "44", "45", "47", "48", "49"], []  # 2 333 points
    keyword["fields"] = ["47"]  # 数控 alone: 3 000 points
    store.add_experts([broad, keyword], PROVINCE)
    first = store.assignments(application_id="app_3")[0]
    done = assignment.decline_assignment(store, first, "出差", f"expert:{first['expert_id']}", NOW)
    [replacement] = done["replacement"]["assigned"]
    assert replacement["expert_name"] == keyword["name"] and replacement["affinity"] == 0.3


def test_a_replacement_with_no_expert_left_names_the_slot_unfilled(store):
    run(store)
    loads = Counter(a["expert_id"] for a in store.assignments("call_1"))
    for doc in store.expert_docs.values():
        doc["load_cap"] = loads[doc["_id"]]
    first = store.assignments(application_id="app_3")[0]
    done = assignment.decline_assignment(store, first, "出差", f"expert:{first['expert_id']}", NOW)
    assert done["assignment"]["status"] == "declined" and done["replacement"]["assigned"] == []
    [short] = done["replacement"]["unfilled"]
    assert (short["application_id"], short["missing"], short["code"]) == ("app_3", 1, "capacity")


def test_the_second_review_completes_the_application_once(store):
    run(store)
    first, second = store.assignments(application_id="app_2")
    sheet = review(store, first, 80)
    assert sheet["editable"] and not sheet["others_visible"] and sheet["review"]["total_hundredths"] == 8000
    assert events(store, "reviews_completed") == []
    review(store, second, 70)
    review(store, second, 60)  # an edit before the deadline: completes nothing again
    [completed] = events(store, "reviews_completed")
    assert completed == {
        "call_id": "call_1",
        "application_id": "app_2",
        "review_count": 2,
        "raw_mean_hundredths": 7500,
    }  # as the ranking showed it then
    assert [e["total_hundredths"] for e in events(store, "review_submitted")] == [8000, 7000, 6000]
    after = reviews.get_review(store, as_expert(first), first["_id"], NOW + timedelta(days=8))
    assert after["others_visible"] and [o["reviewer"] for o in after["others"]] == ["B"]
    assert not after["editable"]
    review_api.ReviewOut().dump(after)


def test_the_ranking_is_published_within_the_quota_and_the_prefecture_cap(store):
    run(store)
    with pytest.raises(Refused) as early:
        selection.publish_ranking(store, "call_1", PROVINCE, NOW + timedelta(hours=2))
    assert early.value.type == "reviews-outstanding" and "8 review(s) are not in" in early.value.detail
    review_all(store)
    draft = selection.get_ranking(store, "call_1")
    assert draft["status"] == "draft" and draft["outstanding_reviews"] == 0
    ranking = selection.publish_ranking(store, "call_1", PROVINCE, NOW + timedelta(hours=2))
    assert ranking["status"] == "published" and ranking["quota"] == 2
    [event] = events(store, "ranking_published")
    # app_2 ranks second, but 长沙市 has its one place with app_1: app_3 is selected instead
    assert [e["application_id"] for e in event["selected"]] == ["app_1", "app_3"]
    assert [e["application_id"] for e in event["reserve"]] == ranking["reserve"] and "app_2" not in [
        e["application_id"] for e in event["selected"]
    ]
    assert store.call("call_1")["stage"] == "ranked"
    with pytest.raises(Refused) as closed:  # reviews close with the ranking
        review(store, store.assignments(application_id="app_1")[0], 10)
    assert closed.value.type == "review-closed"
    review_api.RankingOut().dump(ranking)


def test_an_upheld_objection_takes_the_application_off_and_moves_the_reserve_up(store):
    published(store)
    notice = selection.get_notice(store, "call_1", NOW + timedelta(hours=4))
    assert notice["window_open"] and [s["application_id"] for s in notice["selected"]] == ["app_1", "app_3"]
    filed = selection.file_objection(
        store,
        "call_1",
        {"application_id": "app_3", "grounds": "申报材料与事实不符"},
        {"role": "institution", "sub": "u1", "institution_id": "inst_4"},
        "institution:u1",
        NOW + timedelta(hours=5),
    )
    assert (filed["status"], filed["filer"], filed["filed_by"]) == ("open", "institution:inst_4", "institution:u1")
    assert events(store, "objection_filed")[0]["filed_by_role"] == "institution"
    resolved = selection.resolve_objection(
        store, filed["objection_id"], {"decision": "upheld", "reason": "经核实属实"}, PROVINCE, NOW + timedelta(hours=6)
    )
    assert resolved["status"] == "upheld" and resolved["removed"] == ["app_3"]
    [event] = events(store, "objection_resolved")
    assert event["upheld"] and event["removed"] == ["app_3"] and event["promoted"] == resolved["promoted"]
    assert "app_4" in event["promoted"]  # 岳阳市's: app_2 cannot take 长沙市's second place
    after = selection.get_notice(store, "call_1", NOW + timedelta(hours=7))
    assert [s["application_id"] for s in after["selected"]] == ["app_1", "app_4"]
    assert [r["application_id"] for r in after["removed"]] == ["app_3"]
    review_api.ObjectionOut().dump(resolved)
    review_api.NoticeOut().dump(after)


def test_finalization_tells_funding_the_selected_and_the_reserve(store):
    published(store)
    with pytest.raises(TransitionBlocked) as window_open:  # not before the notice window has closed
        selection.finalize_selection(store, "call_1", PROVINCE, NOW + timedelta(hours=4))
    assert "finalize after it" in str(window_open.value.why.en)
    assert events(store, "selection_finalized") == []
    final = selection.finalize_selection(store, "call_1", PROVINCE, NOW + timedelta(days=14))
    assert final["status"] == store.call("call_1")["stage"] and final["finalized_at"] == NOW + timedelta(days=14)
    [event] = events(store, "selection_finalized")
    assert (event["call_id"], event["category"], event["funding_rule"], event["quota"], event["year"]) == (
        "call_1",
        "hv-group",
        "rule_1",
        2,
        2026,
    )
    assert [
        (a["application_id"], a["institution_id"], a["rank"], a["budget_request_fen"]) for a in event["approved"]
    ] == [("app_1", "inst_1", 1, 5_000_000), ("app_3", "inst_3", 3, 5_000_000)]
    assert [r["application_id"] for r in event["reserve"]] == ["app_2", "app_4"]
    assert [r["reserve_position"] for r in event["reserve"]] == [1, 2]
    assert final["approved"] == event["approved"]
    review_api.SelectionOut().dump(final)


def test_an_application_withdrawn_after_the_ranking_leaves_the_cut(store):
    published(store)
    withdraw_app_1(store, "selected", None, NOW + timedelta(hours=4))
    assert store.call("call_1")["left"] == ["app_1"]
    assert all(a["status"] == "void" for a in store.assignments(application_id="app_1"))
    notice = selection.get_notice(store, "call_1", NOW + timedelta(hours=5))
    assert "app_1" not in [s["application_id"] for s in notice["selected"]]
    assert [r["application_id"] for r in notice["removed"]] == ["app_1"]


# --- the conflict-of-interest rules (回避) through the assignment run ----------------------


def conflict_store(same_prefecture: bool, own_institution_applied: bool, k: int = 2) -> FakeReviewStore:
    """A closed hv-group call with app_t of inst_t in 衡阳市 (team member pk_team_t); with
    `own_institution_applied`, inst_applied applies too (app_o, in another field)."""
    s = FakeReviewStore()
    handle(
        s,
        "call_opened",
        {
            "call_id": "call_c",
            "category": "hv-group",
            "title": "回避",
            "quota": 2,
            "prefecture_cap": 2,
            "per_institution_limit": 1,
            "budget_min_fen": 0,
            "budget_max_fen": 10**9,
            "funding_rule": "rule_1",
            "opens_at": "2026-04-01T00:00:00Z",
            "closes_at": "2026-05-01T00:00:00Z",
            "year": 2026,
            "review_plan": {
                "reviewers_per_application": k,
                "rubric": RUBRIC,
                "conflict_same_prefecture": same_prefecture,
                "conflict_own_institution_applied": own_institution_applied,
            },
        },
    )
    apps = [("app_t", "inst_t", "衡阳市", ["46"], ["数控", "工业机器人"])]
    if own_institution_applied:
        apps.append(("app_o", "inst_applied", "常德市", ["52"], ["护理"]))
    for app, institution, prefecture, fields, keywords in apps:
        eligible(s, "call_c", app, institution, prefecture, fields, keywords, f"pk_team_{app[-1]}")
    handle(
        s,
        "call_closed",
        {"call_id": "call_c", "category": "hv-group", "closed_at": "2026-05-01T00:00:00Z", "submitted_count": 1},
    )
    return s


def best_match(**ties) -> dict:
    """The expert closest to app_t's field and keywords, with the ties given."""
    return {**expert("inst_best", "株洲市"), "keywords": ["数控", "工业机器人"], **ties}


def fair_match() -> dict:
    return {**expert(new_id("inst"), "郴州市"), "fields": ["46", "51"], "keywords": []}


CONFLICTS = {
    "same-institution": ({"institution_id": "inst_t"}, False, False),
    "same-prefecture": ({"prefecture": "衡阳市"}, True, False),
    "declared-institution": ({"conflict_institution_ids": ["inst_t"]}, False, False),
    "declared-person": ({"conflict_person_keys": ["pk_team_t"]}, False, False),
    "team-member": ({"person_key": "pk_team_t"}, False, False),
    "own-institution-applied": ({"institution_id": "inst_applied"}, False, True),
}


@pytest.mark.parametrize("rule", sorted(CONFLICTS))
def test_a_conflicted_best_match_is_never_assigned_and_the_clean_experts_are(rule):
    ties, same_prefecture, own_institution_applied = CONFLICTS[rule]
    s = conflict_store(same_prefecture, own_institution_applied)
    s.add_experts([best_match(**ties), fair_match(), fair_match()], PROVINCE)
    conflicted, *clean = (e["_id"] for e in s.experts())
    done = assignment.run_assignment(s, "call_c", NOW + timedelta(days=7), PROVINCE, NOW)
    on_target = {a["expert_id"] for a in done["assigned"] if a["application_id"] == "app_t"}
    assert conflicted not in on_target and on_target == set(clean)
    [assigned] = events(s, "experts_assigned")
    assert conflicted not in {a["expert_id"] for a in assigned["assignments"] if a["application_id"] == "app_t"}


def test_a_call_may_turn_the_same_prefecture_rule_off():
    s = conflict_store(same_prefecture=False, own_institution_applied=False)
    s.add_experts([best_match(prefecture="衡阳市"), fair_match(), fair_match()], PROVINCE)
    neighbour = s.experts()[0]["_id"]
    done = assignment.run_assignment(s, "call_c", NOW + timedelta(days=7), PROVINCE, NOW)
    assert neighbour in {a["expert_id"] for a in done["assigned"]}  # the best match, and no longer a conflict


def test_an_application_without_a_free_expert_is_named_with_why():
    s = conflict_store(same_prefecture=True, own_institution_applied=False)
    s.add_experts([best_match(institution_id="inst_t"), best_match(prefecture="衡阳市")], PROVINCE)
    done = assignment.run_assignment(s, "call_c", NOW + timedelta(days=7), PROVINCE, NOW)
    assert done["assigned"] == []
    (short,) = done["unfilled"]
    assert (short["application_id"], short["missing"], short["code"]) == ("app_t", 2, "conflicts")
    assert done["quality"]["coverage"] == 0.0
