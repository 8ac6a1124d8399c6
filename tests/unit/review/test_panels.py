"""Mid-term and acceptance panels, the rules (services/review/domain/panels.py): which projects
a panel takes, conflict-free assignment by the selection's own solver and rules, when the
panel may propose, the result from the calibrated score and the thresholds, and the
province's confirmation or override."""

from datetime import datetime, timedelta, timezone

import pytest

from services.review.domain.assignment import Expert, check_assignment
from services.review.domain.flow import assign
from services.review.domain.calibration import ReviewScore
from services.review.domain.panels import (
    NotReady,
    Thresholds,
    decide,
    panel_policy,
    panel_project,
    propose,
    ready_to_propose,
    rule_text,
    select_projects,
)
from services.common.errors import FieldErrors

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


def project(
    pid, institution="inst_a", prefecture="长沙市", category="hv-group", year=2023, state="standing", **results
):
    return {
        "_id": pid,
        "institution_id": institution,
        "prefecture": prefecture,
        "category": category,
        "year": year,
        "state": state,
        "results": results,
        "title": f"项目{pid}",
    }


KNOWN = {
    p["_id"]: p
    for p in (
        project("p1"),
        project("p2", "inst_b", "株洲市"),
        project("p3", state="failed"),
        project("p4", mid_term="pass"),
        project("p5", year=2022),
        project("p6", category="workshop"),
        project("p7", mid_term="rectify"),
    )
}


# ---------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("score", "result"),
    [(10000, "pass"), (7500, "pass"), (7499, "rectify"), (6000, "rectify"), (5999, "fail"), (0, "fail")],
)
def test_the_result_follows_the_calibrated_score_and_the_thresholds(score, result):
    assert Thresholds().result(score) == result


def test_thresholds_are_checked_naming_the_field_in_both_languages():
    with pytest.raises(FieldErrors) as refused:
        Thresholds(pass_from=6000, rectify_from=7000)
    assert list(refused.value.errors) == ["thresholds.rectify_from"]
    assert "整改线" in refused.value.errors["thresholds.rectify_from"][0].zh
    with pytest.raises(FieldErrors) as refused:
        Thresholds(pass_from=10001)
    assert list(refused.value.errors) == ["thresholds.pass_from"]
    assert rule_text(Thresholds()).zh == "75.00分及以上通过，60.00分及以上限期整改，低于60.00分不通过"


# ---------------------------------------------------------------- which projects


def test_a_panel_takes_the_listed_projects_or_the_standing_ones_of_a_category_and_year():
    assert select_projects(KNOWN, "mid_term", project_ids=["p2", "p1"]) == ["p2", "p1"]
    assert select_projects(KNOWN, "mid_term", category="hv-group", year=2023) == ["p1", "p2", "p7"]
    assert select_projects(KNOWN, "mid_term", category="hv-group") == ["p1", "p2", "p5", "p7"]
    assert select_projects(KNOWN, "acceptance", category="hv-group", year=2023) == ["p1", "p2", "p4"]
    assert select_projects(KNOWN, "mid_term", category="hv-group", year=2023, busy={"p1": "pnl_x"}) == ["p2", "p7"]


def test_each_refused_project_is_named_by_its_place_in_the_list_with_its_rule():
    with pytest.raises(FieldErrors) as refused:
        select_projects(KNOWN, "acceptance", project_ids=["p1", "nope", "p3", "p7", "p2"], busy={"p2": "pnl_x"})
    errors = refused.value.errors
    assert set(errors) == {"project_ids.1", "project_ids.2", "project_ids.3", "project_ids.4"}
    assert "不存在项目 nope" in errors["project_ids.1"][0].zh
    assert "退出" in errors["project_ids.2"][0].zh and "has failed" in errors["project_ids.2"][0]
    assert "中期检查尚未通过" in errors["project_ids.3"][0].zh
    assert "pnl_x" in errors["project_ids.4"][0]
    with pytest.raises(FieldErrors) as refused:
        select_projects(KNOWN, "mid_term", project_ids=["p4"])
    assert "已通过" in refused.value.errors["project_ids.0"][0].zh


@pytest.mark.parametrize("choice", [{}, {"project_ids": ["p1"], "category": "hv-group"}])
def test_a_panel_names_either_its_projects_or_a_category(choice):
    with pytest.raises(FieldErrors) as refused:
        select_projects(KNOWN, "mid_term", **choice)
    assert list(refused.value.errors) == ["project_ids"]


def test_a_category_without_a_waiting_project_is_refused():
    with pytest.raises(FieldErrors) as refused:
        select_projects(KNOWN, "mid_term", category="vu-school")
    assert list(refused.value.errors) == ["category"]


# ---------------------------------------------------------------- assignment


def expert(eid, institution, prefecture="株洲市", categories=("hv-group",), cap=5):
    return Expert(
        eid, institution, prefecture, f"person_{eid}", cap, frozenset({"46"}), frozenset(), frozenset(categories)
    )


def test_an_expert_of_a_projects_own_institution_or_prefecture_never_scores_it():
    projects = [panel_project(KNOWN["p1"]), panel_project(KNOWN["p2"])]
    pool = [
        expert("e_own", "inst_a", "岳阳市"),
        expert("e_local", "inst_c", "长沙市"),
        expert("e_x", "inst_d"),
        expert("e_y", "inst_e", "衡阳市"),
    ]
    policy = panel_policy({"_id": "pnl_1", "reviewers_per_project": 2, "conflict_same_prefecture": None})
    result = assign(projects, pool, policy, applied_institution_ids=frozenset())
    pairs = {(p.application_id, p.expert_id) for p in result.pairs}
    assert not result.unfilled and len(pairs) == 4
    assert not {("p1", "e_own"), ("p1", "e_local")} & pairs
    assert check_assignment(projects, pool, policy, sorted(pairs), frozenset()) == []
    # the panel may turn the same-prefecture rule off: the local expert may then score p1
    off = panel_policy({"_id": "pnl_1", "reviewers_per_project": 3, "conflict_same_prefecture": False})
    again = {(p.application_id, p.expert_id) for p in assign(projects, pool, off, applied_institution_ids=()).pairs}
    assert ("p1", "e_local") in again and ("p1", "e_own") not in again


def test_a_project_carries_its_applications_fields_and_team_into_the_assignment():
    p = panel_project({**KNOWN["p1"], "industry_fields": ["46"], "keywords": ["数控"], "team_person_keys": ["k1"]})
    assert (p.fields, p.team_person_ids) == (frozenset({"46"}), frozenset({"k1"}))


# ---------------------------------------------------------------- proposal


def test_the_panel_proposes_once_every_review_is_in_or_after_the_deadline_with_a_review_each():
    ready_to_propose({"p1": ["reviewed", "reviewed"], "p2": ["reviewed", "reviewed"]}, 2, now=NOW, deadline=NOW)
    with pytest.raises(NotReady) as early:
        ready_to_propose(
            {"p1": ["reviewed", "assigned"], "p2": ["reviewed"]}, 2, now=NOW, deadline=NOW + timedelta(days=1)
        )
    assert "2份评审意见未提交" in early.value.message.zh
    ready_to_propose({"p1": ["reviewed", "assigned"], "p2": ["reviewed"]}, 2, now=NOW, deadline=NOW)
    with pytest.raises(NotReady) as unscored:
        ready_to_propose({"p1": ["reviewed"], "p2": ["assigned"]}, 2, now=NOW, deadline=NOW)
    assert "p2" in unscored.value.message


def test_calibration_corrects_a_lenient_expert_before_the_thresholds_apply():
    # e_soft scores everything 12 points higher than e_hard; p_mid is reviewed by e_soft and e_mid only
    reviews = [
        ReviewScore("p_a", "e_soft", 8200),
        ReviewScore("p_a", "e_hard", 7000),
        ReviewScore("p_b", "e_soft", 9200),
        ReviewScore("p_b", "e_hard", 8000),
        ReviewScore("p_c", "e_soft", 6200),
        ReviewScore("p_c", "e_hard", 5000),
        ReviewScore("p_mid", "e_soft", 7700),
        ReviewScore("p_mid", "e_mid", 7500),
        ReviewScore("p_a", "e_mid", 7600),
    ]
    results, calibration = propose(["p_a", "p_b", "p_c", "p_mid"], reviews, Thresholds())
    by = {r.project_id: r for r in results}
    assert calibration.offsets["e_soft"].offset_hundredths > 0 > calibration.offsets["e_hard"].offset_hundredths
    assert by["p_mid"].raw_mean_hundredths == 7600 and by["p_mid"].calibrated_hundredths < 7500
    assert [by[p].result for p in ("p_a", "p_b", "p_c", "p_mid")] == [
        Thresholds().result(by[p].calibrated_hundredths) for p in ("p_a", "p_b", "p_c", "p_mid")
    ]
    assert by["p_b"].result == "pass" and by["p_c"].result == "fail" and by["p_mid"].result == "rectify"
    with pytest.raises(NotReady):
        propose(["p_a", "p_none"], reviews, Thresholds())


# ---------------------------------------------------------------- confirmation


PROPOSED = {"proposed_result": "fail", "calibrated_hundredths": 5520}


def test_the_province_confirms_the_proposal_as_it_is():
    decision = decide(
        PROPOSED, "mid_term", "pnl_1", Thresholds(), result=None, reason=None, rectify_by=None, rectify_days=90, now=NOW
    )
    assert (decision.result, decision.overridden, decision.rectify_by) == ("fail", False, None)
    assert decision.funding_reason.startswith("专家组 pnl_1 中期检查结论：不通过（校准得分 55.20")


def test_an_override_needs_a_reason_naming_the_field():
    with pytest.raises(FieldErrors) as refused:
        decide(
            PROPOSED,
            "mid_term",
            "pnl_1",
            Thresholds(),
            result="pass",
            reason="  ",
            rectify_by=None,
            rectify_days=90,
            now=NOW,
        )
    assert list(refused.value.errors) == ["reason"] and "须说明理由" in refused.value.errors["reason"][0].zh
    decision = decide(
        PROPOSED,
        "mid_term",
        "pnl_1",
        Thresholds(),
        result="rectify",
        reason="补充材料后复核",
        rectify_by=None,
        rectify_days=90,
        now=NOW,
    )
    assert (decision.result, decision.overridden, decision.reason) == ("rectify", True, "补充材料后复核")
    assert decision.rectify_by == NOW + timedelta(days=90)
    assert "省级改定（原建议：不通过）" in decision.funding_reason and "补充材料后复核" in decision.funding_reason


def test_a_rectification_deadline_lies_ahead_and_belongs_to_rectify_only():
    rectify = {"proposed_result": "rectify", "calibrated_hundredths": 6800}
    given = NOW + timedelta(days=30)
    assert (
        decide(
            rectify,
            "acceptance",
            "pnl_1",
            Thresholds(),
            result=None,
            reason=None,
            rectify_by=given,
            rectify_days=90,
            now=NOW,
        ).rectify_by
        == given
    )
    for proposal, deadline in ((rectify, NOW - timedelta(days=1)), (PROPOSED, given)):
        with pytest.raises(FieldErrors) as refused:
            decide(
                proposal,
                "acceptance",
                "pnl_1",
                Thresholds(),
                result=None,
                reason=None,
                rectify_by=deadline,
                rectify_days=90,
                now=NOW,
            )
        assert list(refused.value.errors) == ["rectify_by"]
