"""What the service learns from events to address later notices."""

from __future__ import annotations

from datetime import datetime, timezone

from services.notify.domain.directory import facts_of
from tests.support.events import fitting
from tests.unit.notify import samples as s


def learned(kind, data):
    return {(f.record, f.key): {**f.initial, **f.fields} for f in facts_of(kind, data)}


def test_a_submission_teaches_the_application_its_institution_prefecture_and_recommender():
    facts = learned(
        "application_submitted", s.application_submitted("app_a", "call_1", "inst_a", "长沙市", "智能制造专业群")
    )
    assert facts[("applications", "app_a")] == {
        "institution_id": "inst_a",
        "prefecture": "长沙市",
        "call_id": "call_1",
        "title": "智能制造专业群",
        "recommender": "prefecture:长沙市",
    }
    assert facts[("institutions", "inst_a")] == {"prefecture": "长沙市"}


def test_assignments_are_learned_open_with_their_deadline_and_closed_by_decline_or_review():
    facts = learned(
        "experts_assigned", s.experts_assigned("call_1", [("as_1", "app_a", "exp_1", "2026-06-10T00:00:00Z")])
    )
    assert facts[("assignments", "as_1")]["review_deadline"] == datetime(2026, 6, 10, tzinfo=timezone.utc)
    assert [
        f.initial
        for f in facts_of(
            "experts_assigned", s.experts_assigned("call_1", [("as_1", "app_a", "exp_1", "2026-06-10T00:00:00Z")])
        )
    ] == [{"state": "open"}]  # only when new
    assert (
        learned("review_submitted", s.review_submitted("call_1", "as_1", "app_a", "exp_1"))[("assignments", "as_1")][
            "state"
        ]
        == "submitted"
    )
    assert (
        learned("assignment_declined", s.assignment_declined("call_1", "as_1", "app_a", "exp_1"))[
            ("assignments", "as_1")
        ]["state"]
        == "declined"
    )


def test_approvals_are_learned_by_call_and_rank_and_projects_point_to_them():
    facts = learned(
        "selection_finalized",
        s.selection_finalized("call_1", [s.approved("app_a", "inst_a", "长沙市", 1, "智能制造专业群")]),
    )
    assert facts[("approvals", "call_1:1")]["institution_id"] == "inst_a"
    assert learned("funds_allocated", s.funds_allocated("proj_a", "call_1", 1)) == {
        ("projects", "proj_a"): {"call_id": "call_1", "rank": 1}
    }


def test_a_successor_from_the_reserve_list_is_learned_as_approved_at_its_own_rank():
    facts = learned(
        "project_replaced",
        s.project_replaced("proj_left", "call_1", "app_b", "inst_b", "株洲市", "轨道交通专业群", rank=4),
    )
    assert facts[("approvals", "call_1:4")] == {
        "application_id": "app_b",
        "institution_id": "inst_b",
        "prefecture": "株洲市",
        "title": "轨道交通专业群",
    }
    assert facts[("applications", "app_b")]["call_id"] == "call_1"
    assert ("approvals", "call_1:2") not in facts  # the place's rank is the left project's: its approval stays its own


def test_events_without_facts_teach_nothing():
    assert facts_of("budget_exhausted", s.budget_exhausted("call_1")) == []


def test_a_panels_assignments_are_learned_for_the_reminders_as_a_calls_are():
    data = s.panel_experts_assigned("pnl_1", [("pas_1", "app_a", "智能制造专业群", "exp_1", "2026-06-10T00:00:00Z")])
    facts = learned("panel_experts_assigned", data)
    assert facts[("calls", "pnl_1")] == {"title": "2026年楚怡专业群中期检查专家组"}
    assert facts[("assignments", "pas_1")] == {
        "expert_id": "exp_1",
        "application_id": "app_a",
        "call_id": "pnl_1",
        "review_deadline": datetime(2026, 6, 10, tzinfo=timezone.utc),
        "state": "open",
    }
    assert [f.initial for f in facts_of("panel_experts_assigned", data)] == [{}, {"state": "open"}]
    ref = {"panel_id": "pnl_1", "assignment_id": "pas_1", "project_id": "app_a", "expert_id": "exp_1"}
    submitted = fitting("panel_review_submitted", {**ref, "total_hundredths": 8000})
    declined = fitting("panel_assignment_declined", {**ref, "reason": "回避"})
    assert learned("panel_review_submitted", submitted)[("assignments", "pas_1")]["state"] == "submitted"
    assert learned("panel_assignment_declined", declined)[("assignments", "pas_1")]["state"] == "declined"
