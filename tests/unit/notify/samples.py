"""Event data as the producers send it (each checked against the producer's schema), for
the notify tests: unit tests of the rules and templates, and the service tests that
publish them."""

from __future__ import annotations

from tests.support.events import fitting as checked


def _ref(application_id, call_id, institution_id, prefecture, category="hv-group"):
    return {
        "application_id": application_id,
        "call_id": call_id,
        "institution_id": institution_id,
        "prefecture": prefecture,
        "category": category,
    }


def call_opened(call_id, title="2026年楚怡高水平高职高专专业群遴选", closes_at="2026-05-31T09:00:00Z"):
    return checked(
        "call_opened",
        {
            "call_id": call_id,
            "category": "hv-group",
            "title": title,
            "opens_at": "2026-04-01T00:00:00Z",
            "closes_at": closes_at,
            "quota": 20,
            "prefecture_cap": 3,
            "per_institution_limit": 1,
            "budget_min_fen": 100_000_00,
            "budget_max_fen": 5_000_000_00,
            "review_plan": {
                "reviewers_per_application": 3,
                "conflict_same_prefecture": True,
                "conflict_own_institution_applied": True,
                "rubric": [{"code": "plan", "name": "建设方案", "weight": 100, "max_score": 100}],
            },
            "funding_rule": "tiers",
        },
    )


def call_closed(call_id, submitted_count=2):
    return checked(
        "call_closed",
        {
            "call_id": call_id,
            "category": "hv-group",
            "closed_at": "2026-05-31T09:00:00Z",
            "submitted_count": submitted_count,
        },
    )


def call_extended(call_id, institution_ids=("inst_a",)):
    return checked(
        "call_extended",
        {
            "call_id": call_id,
            "category": "hv-group",
            "closes_at": "2026-06-07T09:00:00Z",
            "previous_closes_at": "2026-05-31T09:00:00Z",
            "institution_ids": list(institution_ids),
        },
    )


def call_cancelled(call_id, closed=(("app_a", "inst_a", "长沙市"),)):
    return checked(
        "call_cancelled",
        {
            "call_id": call_id,
            "category": "hv-group",
            "year": 2025,
            "reason": "批次误发",
            "released_quota": 20,
            "closed_applications": [
                {"application_id": a, "institution_id": i, "prefecture": p, "from_state": "submitted"}
                for a, i, p in closed
            ],
        },
    )


def project_established(project_id, call_id, institution_id, prefecture, title):
    return checked(
        "project_established",
        {
            "project_id": project_id,
            "call_id": call_id,
            "category": "hv-group",
            "year": 2025,
            "institution_id": institution_id,
            "prefecture": prefecture,
            "title": title,
            "rank": 1,
            "budget_request_fen": 2_000_000_00,
            "yearly_targets": [{"year": 2025, "target": "建成实训基地"}],
        },
    )


def project_replaced(project_id, call_id, successor_id, institution_id, prefecture, title, rank=4):
    return checked(
        "project_replaced",
        {
            "project_id": project_id,
            "call_id": call_id,
            "category": "hv-group",
            "year": 2025,
            "left_as": "failed",
            "place_rank": 2,
            "successor_project_id": successor_id,
            "institution_id": institution_id,
            "prefecture": prefecture,
            "title": title,
            "rank": rank,
            "reserve_position": 1,
            "budget_request_fen": 2_000_000_00,
            "by": "province:office",
        },
    )


def annual_report_due(project_id, institution_id, prefecture, title):
    return checked(
        "annual_report_due",
        {
            "window_id": "rwin_1",
            "year": 2024,
            "due_at": "2025-01-31T09:00:00Z",
            "hours_left": 72,
            "project_id": project_id,
            "title": title,
            "institution_id": institution_id,
            "prefecture": prefecture,
            "targets": ["建成实训基地一期", "新增校企合作企业5家"],
        },
    )


def annual_reports_missing(prefecture, missing=(("app_a", "inst_a", "长沙职业技术学院", "智能制造专业群"),)):
    return checked(
        "annual_reports_missing",
        {
            "window_id": "rwin_1",
            "year": 2024,
            "due_at": "2025-01-31T09:00:00Z",
            "prefecture": prefecture,
            "missing": [
                {"project_id": p, "institution_id": i, "institution_name": n, "title": t} for p, i, n, t in missing
            ],
        },
    )


def annual_report(
    name,
    project_id,
    institution_id,
    prefecture,
    title,
    state,
    reason=None,
    filings=1,
    late=False,
    recommender_kind="prefecture_bureau",
):
    authority = prefecture if recommender_kind == "prefecture_bureau" else "湖南省人力资源和社会保障厅"
    return checked(
        name,
        {
            "report_id": f"rpt_2024_{project_id}",
            "project_id": project_id,
            "year": 2024,
            "title": title,
            "institution_id": institution_id,
            "prefecture": prefecture,
            "recommender": {"kind": recommender_kind, "authority": authority},
            "state": state,
            "late": late,
            "filings": filings,
            "by": "prefecture:u1",
            "reason": reason,
        },
    )


def application_submitted(
    application_id, call_id, institution_id, prefecture, title, recommender_kind="prefecture_bureau"
):
    authority = prefecture if recommender_kind == "prefecture_bureau" else "湖南省人力资源和社会保障厅"
    return checked(
        "application_submitted",
        {
            **_ref(application_id, call_id, institution_id, prefecture),
            "title": title,
            "submitted_at": "2026-05-10T02:30:00Z",
            "recommender": {"kind": recommender_kind, "authority": authority},
        },
    )


def application_withdrawn(application_id, call_id, institution_id, prefecture, from_state="submitted"):
    return checked(
        "application_withdrawn",
        {
            **_ref(application_id, call_id, institution_id, prefecture),
            "from_state": from_state,
            "reason": "材料需重新整理",
        },
    )


def application_decision(name, application_id, call_id, institution_id, prefecture, reason=None):
    return checked(
        name,
        {
            **_ref(application_id, call_id, institution_id, prefecture),
            "by": f"prefecture:{prefecture}",
            "reason": reason,
        },
    )


def eligibility_checked(application_id, call_id, institution_id, prefecture, title, eligible=True):
    findings = [
        {"rule": "institution_type", "passed": True, "reason_zh": "单位类型符合要求", "reason_en": "type fits"},
        {
            "rule": "one_per_institution",
            "passed": eligible,
            "reason_zh": "每个单位限报一项",
            "reason_en": "one per institution",
        },
    ]
    return checked(
        "eligibility_checked",
        {
            **_ref(application_id, call_id, institution_id, prefecture),
            "eligible": eligible,
            "overridden": False,
            "decided_by": "rules",
            "reason": None,
            "findings": findings,
            "applicant": {
                "institution_name": "长沙职业技术学院",
                "institution_type": "higher_vocational",
                "county": "长沙县",
                "title": title,
                "summary": "建设智能制造专业群",
                "industry_fields": ["46"],
                "keywords": ["智能制造"],
                "team_person_keys": [],
                "budget_request_fen": 3_000_000_00,
                "submitted_at": "2026-05-10T02:30:00Z",
            },
        },
    )


def experts_assigned(call_id, assignments):
    """assignments: [(assignment_id, application_id, expert_id, review_deadline)]"""
    return checked(
        "experts_assigned",
        {
            "call_id": call_id,
            "unfilled": [],
            "assignments": [
                {"assignment_id": a, "application_id": app, "expert_id": e, "review_deadline": d}
                for a, app, e, d in assignments
            ],
        },
    )


def assignment_declined(call_id, assignment_id, application_id, expert_id):
    return checked(
        "assignment_declined",
        {
            "call_id": call_id,
            "assignment_id": assignment_id,
            "application_id": application_id,
            "expert_id": expert_id,
            "reason": "与申报单位存在合作关系，需回避",
        },
    )


def review_submitted(call_id, assignment_id, application_id, expert_id):
    return checked(
        "review_submitted",
        {
            "call_id": call_id,
            "assignment_id": assignment_id,
            "application_id": application_id,
            "expert_id": expert_id,
            "total_hundredths": 8650,
        },
    )


def entry(application_id, institution_id, prefecture, rank):
    return {
        "application_id": application_id,
        "institution_id": institution_id,
        "prefecture": prefecture,
        "rank": rank,
        "calibrated_hundredths": 9000 - rank * 100,
    }


def ranking_published(call_id, selected, reserve=()):
    return checked(
        "ranking_published", {"call_id": call_id, "quota": 20, "selected": list(selected), "reserve": list(reserve)}
    )


def notice_published(call_id, selected):
    return checked(
        "notice_published",
        {
            "call_id": call_id,
            "opens_at": "2026-07-01T00:00:00Z",
            "closes_at": "2026-07-08T00:00:00Z",
            "selected": list(selected),
        },
    )


def objection_filed(call_id, objection_id, application_id):
    return checked(
        "objection_filed",
        {
            "call_id": call_id,
            "objection_id": objection_id,
            "application_id": application_id,
            "filed_by_role": "institution",
        },
    )


def objection_resolved(call_id, objection_id, application_id, upheld, removed=(), promoted=()):
    return checked(
        "objection_resolved",
        {
            "call_id": call_id,
            "objection_id": objection_id,
            "application_id": application_id,
            "upheld": upheld,
            "reason": "经核查，申报材料中的获奖证书与事实不符",
            "removed": list(removed),
            "promoted": list(promoted),
        },
    )


def approved(application_id, institution_id, prefecture, rank, title):
    return {
        "application_id": application_id,
        "institution_id": institution_id,
        "prefecture": prefecture,
        "rank": rank,
        "title": title,
        "budget_request_fen": 3_000_000_00,
    }


def selection_finalized(call_id, approved_entries):
    return checked(
        "selection_finalized",
        {
            "call_id": call_id,
            "category": "hv-group",
            "funding_rule": "tiers",
            "quota": 20,
            "approved": list(approved_entries),
        },
    )


def money(total, **by_source):
    by_source = by_source or {"provincial_special": total}
    return {"currency": "CNY", "total": total, "by_source": by_source}


def tranche(index=1, trigger="approval", percent=40, total=1_200_000_00):
    return {"index": index, "trigger": trigger, "percent": percent, "amount": money(total)}


def funds_allocated(project_id, call_id, rank):
    return checked(
        "funds_allocated",
        {
            "project_id": project_id,
            "call_id": call_id,
            "year": 2026,
            "category": "hv-group",
            "rank": rank,
            "award": money(3_000_000_00, provincial_special=2_000_000_00, local_government=1_000_000_00),
            "tranches": [
                tranche(1, "approval", 40, 1_200_000_00),
                tranche(2, "mid_term", 30, 900_000_00),
                tranche(3, "acceptance", 30, 900_000_00),
            ],
            "clawback_policy": "beyond_approval",
        },
    )


def tranche_released(project_id, call_id):
    return checked("tranche_released", {"project_id": project_id, "call_id": call_id, "tranche": tranche()})


def tranche_withheld(project_id, call_id):
    return checked(
        "tranche_withheld",
        {
            "project_id": project_id,
            "call_id": call_id,
            "tranche": tranche(2, "mid_term", 30, 900_000_00),
            "milestone": "mid_term",
            "reason": "中期检查需整改：实训设备采购滞后",
        },
    )


def funds_clawed_back(project_id, call_id):
    return checked(
        "funds_clawed_back",
        {
            "project_id": project_id,
            "call_id": call_id,
            "milestone": "acceptance",
            "policy": "beyond_approval",
            "reason": "验收未通过：实训基地未建成",
            "amount": money(900_000_00),
            "tranches": [tranche(3, "acceptance", 30, 900_000_00)],
        },
    )


def project_failed(project_id, call_id):
    return checked(
        "project_failed",
        {
            "project_id": project_id,
            "call_id": call_id,
            "category": "hv-group",
            "milestone": "acceptance",
            "reason": "验收未通过：实训基地未建成",
            "withheld": money(0),
            "clawed_back": money(900_000_00),
        },
    )


def project_withdrawn(project_id, call_id):
    return checked(
        "project_withdrawn",
        {
            "project_id": project_id,
            "call_id": call_id,
            "category": "hv-group",
            "reason": "学校申请撤销：专业群调整",
            "withheld": money(1_800_000_00),
            "clawed_back": money(0),
        },
    )


def panel_experts_assigned(panel_id, assignments, title="2026年楚怡专业群中期检查专家组"):
    """`assignments`: (assignment id, project id, project title, expert id, deadline)."""
    return checked(
        "panel_experts_assigned",
        {
            "panel_id": panel_id,
            "milestone": "mid_term",
            "title": title,
            "unfilled": [],
            "assignments": [
                {"assignment_id": a, "project_id": p, "title": t, "expert_id": e, "review_deadline": d}
                for a, p, t, e, d in assignments
            ],
        },
    )


def panel_results_proposed(panel_id, results=(("app_a", 5520, "fail"), ("app_b", 8200, "pass"))):
    return checked(
        "panel_results_proposed",
        {
            "panel_id": panel_id,
            "milestone": "mid_term",
            "results": [{"project_id": p, "calibrated_hundredths": c, "result": r} for p, c, r in results],
        },
    )


def panel_result_confirmed(
    panel_id, project_id, call_id, institution_id, prefecture, title, result="fail", rectify_by=None
):
    return checked(
        "panel_result_confirmed",
        {
            "panel_id": panel_id,
            "project_id": project_id,
            "call_id": call_id,
            "category": "hv-group",
            "institution_id": institution_id,
            "prefecture": prefecture,
            "title": title,
            "milestone": "mid_term",
            "result": result,
            "proposed_result": result,
            "overridden": False,
            "calibrated_hundredths": 5520,
            "reason": "专家组中期检查结论：不通过（校准得分 55.20）",
            "rectify_by": rectify_by,
            "confirmed_by": "province:admin",
        },
    )


def rectification_due(
    panel_id, project_id, call_id, institution_id, prefecture, title, rectify_by="2026-09-01T00:00:00Z"
):
    return checked(
        "rectification_due",
        {
            "project_id": project_id,
            "panel_id": panel_id,
            "call_id": call_id,
            "category": "hv-group",
            "institution_id": institution_id,
            "prefecture": prefecture,
            "title": title,
            "milestone": "mid_term",
            "rectify_by": rectify_by,
        },
    )


def budget_exhausted(call_id):
    return checked(
        "budget_exhausted",
        {
            "call_id": call_id,
            "year": 2026,
            "category": "hv-group",
            "needed": money(9_000_000_00),
            "available": money(5_000_000_00),
            "shortfall": money(4_000_000_00),
        },
    )
