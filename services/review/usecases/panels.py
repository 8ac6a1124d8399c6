"""Mid-term and acceptance panels (docs/panels.md): open a panel, assign its experts without
conflict of interest, take their reviews, propose each project's result from the calibrated
scores, and the province's confirmation, which goes to funding as the milestone's result.

Each function is one unit of work over the store (a transaction, with its events); the
rules are the domain's (`domain/panels.py`, and the selection's own assignment, conflict,
review and calibration modules)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime

from services.common.bilingual import Bilingual
from services.common.replies import Refused
from services.common.statemachine import creation_entry
from services.review.domain.flow import assign
from services.review.domain.calibration import ReviewScore
from services.review.domain.experts import pairs_to_void, pool_expert
from services.review.domain.panels import (
    PANEL,
    PANEL_RESULT,
    FAILED,
    STANDING as PROJECT_STANDING,
    WITHDRAWN,
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
from services.review.domain.reviews import ASSIGNMENT, STANDING, Review, ReviewClosed, Rubric, rfc3339, write_review
from services.review.store import PanelAssignmentNotFound, ReviewStore, new_id

REVIEWS_CLOSED = Bilingual(
    "The panel has proposed its results: reviews are closed.", "专家组已提出结论建议，评审已结束。"
)


def _thresholds(panel: Mapping) -> Thresholds:
    return Thresholds(**panel["thresholds"])


def with_rule(panel: dict) -> dict:
    """The panel as its replies show it: with its thresholds in words."""
    rule = rule_text(_thresholds(panel))
    return {**panel, "rule": f"{rule.zh} / {rule.en}"}


# ---------------------------------------------------------------- open


def open_panel(store: ReviewStore, data: Mapping, by: str, now: datetime) -> dict:
    """A new panel for one milestone over the chosen projects (their own copy in review)."""
    rubric = Rubric.from_dicts(data["rubric"])  # RubricInvalid names rubric[i].field
    thresholds = Thresholds(**data["thresholds"])
    if data["review_deadline"] <= now:
        raise FieldErrors({"review_deadline": [Bilingual("must be in the future", "须晚于当前时间")]})
    chosen = select_projects(
        store.projects(),
        data["milestone"],
        project_ids=data.get("project_ids"),
        category=data.get("category"),
        year=data.get("year"),
        busy=store.busy_projects(data["milestone"]),
    )
    panel_id = new_id("pnl")
    panel = {
        "_id": panel_id,
        "milestone": data["milestone"],
        "title": data["title"],
        "status": "open",
        "project_ids": chosen,
        "rubric": rubric.to_dicts(),
        "reviewers_per_project": data["reviewers_per_project"],
        "conflict_same_prefecture": data["conflict_same_prefecture"],
        "review_deadline": data["review_deadline"],
        "thresholds": asdict(thresholds),
        "rectify_days": data["rectify_days"],
        "results": {},
        "calibration": None,
        "version": 0,
        "created_at": now,
        "created_by": by,
        "history": [creation_entry("open", by, now).as_dict()],
    }
    store.add_panel(
        panel,
        [
            (
                "panel_opened",
                panel_id,
                {
                    "panel_id": panel_id,
                    "milestone": panel["milestone"],
                    "title": panel["title"],
                    "project_ids": chosen,
                    "review_deadline": rfc3339(panel["review_deadline"]),
                },
            )
        ],
    )
    return with_rule(panel)


def get_panel(store: ReviewStore, panel_id: str) -> dict:
    return with_rule(store.panel(panel_id))


# ---------------------------------------------------------------- assign


def assign_panel(store: ReviewStore, panel_id: str, by: str, now: datetime) -> dict:
    """Assign experts to the panel's open slots, keeping standing assignments, never a pair a
    conflict-of-interest or qualification rule excludes (the selection's own rules and
    solver), never a declined pair again; standing pairs a rule now excludes are voided."""

    def work(panel):
        if now >= panel["review_deadline"]:
            raise ReviewClosed(panel["review_deadline"])
        return _solve(store, panel, by, now)

    return store.in_panel(panel_id, work)


def _solve(store: ReviewStore, panel: dict, by: str, now: datetime) -> dict:
    """One assignment run of the panel inside its transaction (see `assign_panel`)."""
    status, entry = PANEL.apply(panel["status"], "assign", by, None, now)
    projects = store.projects({"_id": {"$in": panel["project_ids"]}})
    standing_projects = [p for pid, p in projects.items() if p["state"] == PROJECT_STANDING]
    applications = [panel_project(p) for p in standing_projects]
    experts = store.experts()
    pool = [pool_expert(e) for e in experts]
    if applications and not pool:
        raise Refused(
            409,
            Bilingual(
                "The expert pool is empty: add experts (POST /v1/experts) before assigning.",
                "专家库为空：请先添加专家（POST /v1/experts）再分配。",
            ),
            type="expert-pool-empty",
        )
    policy = panel_policy(panel)
    records = store.panel_assignments(panel["_id"])
    as_selection = [{**r, "application_id": r["project_id"]} for r in records]
    voided = pairs_to_void(applications, pool, policy, as_selection, frozenset())
    for assignment_id, why in voided.items():
        current = next(r for r in records if r["_id"] == assignment_id)
        to, void_entry = ASSIGNMENT.apply(current["status"], "void", by, why, now)
        store.move_panel_assignment(assignment_id, current["status"], to, void_entry.as_dict(), {"reason": why})
    fixed = [(r["project_id"], r["expert_id"]) for r in records if r["status"] in STANDING and r["_id"] not in voided]
    known = {a.id for a in applications}, {e.id for e in pool}
    excluded = [
        (r["project_id"], r["expert_id"])
        for r in records
        if (r["status"] == "declined" or r["_id"] in voided)
        and r["project_id"] in known[0]
        and r["expert_id"] in known[1]
    ]
    result = assign(
        applications, pool, policy, fixed=fixed, excluded_pairs=excluded, applied_institution_ids=frozenset()
    )
    names = {e["_id"]: e["name"] for e in experts}
    new = [
        {
            "_id": new_id("pas"),
            "panel_id": panel["_id"],
            "milestone": panel["milestone"],
            "project_id": pair.application_id,
            "project_title": projects[pair.application_id]["title"],
            "institution_name": projects[pair.application_id].get("institution_name"),
            "expert_id": pair.expert_id,
            "expert_name": names[pair.expert_id],
            "status": "assigned",
            "affinity": pair.affinity,
            "review_deadline": panel["review_deadline"],
            "assigned_at": now,
            "reason": None,
            "review": None,
            "history": [creation_entry("assigned", by, now).as_dict()],
        }
        for pair in result.pairs
    ]
    store.add_panel_assignments(new)
    store.update_panel(panel["_id"], {"status": status}, [entry.as_dict()])
    store.emit(
        "panel_experts_assigned",
        panel["_id"],
        {
            "panel_id": panel["_id"],
            "milestone": panel["milestone"],
            "title": panel["title"],
            "unfilled": [u._asdict() for u in result.unfilled],
            "assignments": [
                {
                    "assignment_id": a["_id"],
                    "project_id": a["project_id"],
                    "title": a["project_title"],
                    "expert_id": a["expert_id"],
                    "review_deadline": rfc3339(a["review_deadline"]),
                }
                for a in new
            ],
        },
    )
    k = panel["reviewers_per_project"]
    slots, filled = k * len(applications), len(fixed) + len(new)
    return {
        "panel_id": panel["_id"],
        "assigned": new,
        "unfilled": [u._asdict() for u in result.unfilled],
        "seconds": result.seconds,
        "quality": {
            "total_affinity": result.total_affinity,
            "mean_affinity": result.total_affinity / len(new) if new else None,
            "slots": slots,
            "filled": filled,
            "coverage": filled / slots if slots else 1.0,
            "load": asdict(result.load),
            "feasibility": asdict(result.feasibility),
            "candidate_pairs": result.candidate_pairs,
        },
    }


def decline_panel_assignment(
    store: ReviewStore, actor: Mapping, assignment_id: str, reason: str, by: str, now: datetime
) -> dict:
    """An expert declines a project not yet scored (回避 or unavailable), with a reason, before
    the deadline: a replacement is assigned at once by the same run, which never offers the
    declined pair again."""
    assignment = own_panel_assignment(store, actor, assignment_id)

    def work(panel):
        if now >= panel["review_deadline"]:
            raise ReviewClosed(panel["review_deadline"])
        if panel["status"] != "reviewing":
            raise Refused(409, REVIEWS_CLOSED, type="review-closed")
        current = store.panel_assignment(assignment_id)
        to, entry = ASSIGNMENT.apply(current["status"], "decline", by, reason, now)
        store.move_panel_assignment(assignment_id, current["status"], to, entry.as_dict(), {"reason": entry.reason})
        store.emit(
            "panel_assignment_declined",
            panel["_id"],
            {
                "panel_id": panel["_id"],
                "assignment_id": assignment_id,
                "project_id": current["project_id"],
                "expert_id": current["expert_id"],
                "reason": entry.reason,
            },
        )
        return {"assignment": store.panel_assignment(assignment_id), "replacement": _solve(store, panel, by, now)}

    return store.in_panel(assignment["panel_id"], work)


# ---------------------------------------------------------------- review


def own_panel_assignment(store: ReviewStore, actor: Mapping, assignment_id: str) -> dict:
    """The assignment, if the actor may see it (an expert only their own: another's is 404)."""
    assignment = store.panel_assignment(assignment_id)
    if actor["role"] == "expert" and assignment["expert_id"] != actor.get("expert_id"):
        raise PanelAssignmentNotFound(assignment_id)
    return assignment


def put_panel_review(
    store: ReviewStore, actor: Mapping, assignment_id: str, sheet: Mapping, by: str, now: datetime
) -> dict:
    """Write or edit an expert's review of one project, on the panel's rubric, until the
    panel's deadline and while the panel has not proposed."""
    assignment = own_panel_assignment(store, actor, assignment_id)

    def work(panel):
        current = store.panel_assignment(assignment_id)
        if panel["status"] != "reviewing":
            raise Refused(409, REVIEWS_CLOSED, type="review-closed")
        previous = Review(**current["review"]) if current.get("review") else None
        written = write_review(
            Rubric.from_dicts(panel["rubric"]),
            application_id=current["project_id"],
            expert_id=current["expert_id"],
            scores=sheet["scores"],
            comments=sheet["comments"],
            now=now,
            deadline=panel["review_deadline"],
            previous=previous,
        )
        status, entry = ASSIGNMENT.apply(current["status"], "submit", by, None, now)
        store.move_panel_assignment(
            assignment_id, current["status"], status, entry.as_dict(), {"review": asdict(written)}
        )
        store.emit(
            "panel_review_submitted",
            panel["_id"],
            {
                "panel_id": panel["_id"],
                "assignment_id": assignment_id,
                "project_id": current["project_id"],
                "expert_id": current["expert_id"],
                "total_hundredths": written.total_hundredths,
            },
        )
        return store.panel_assignment(assignment_id)

    return store.in_panel(assignment["panel_id"], work)


# ---------------------------------------------------------------- propose


def propose_results(store: ReviewStore, panel_id: str, by: str, now: datetime) -> dict:
    """Once every review is in (or the deadline has passed and every project has one): the
    scores calibrated over the panel, each project's result by the thresholds. Reviews close."""

    def work(panel):
        status, entry = PANEL.apply(panel["status"], "propose", by, None, now)
        projects = store.projects({"_id": {"$in": panel["project_ids"]}})
        standing = [pid for pid in panel["project_ids"] if projects.get(pid, {}).get("state") == PROJECT_STANDING]
        records = [r for r in store.panel_assignments(panel["_id"]) if r["status"] in STANDING]
        try:
            ready_to_propose(
                {pid: [r["status"] for r in records if r["project_id"] == pid] for pid in standing},
                panel["reviewers_per_project"],
                now=now,
                deadline=panel["review_deadline"],
            )
            proposed, calibration = propose(
                standing,
                [
                    ReviewScore(r["project_id"], r["expert_id"], r["review"]["total_hundredths"])
                    for r in records
                    if r["status"] == "reviewed" and r["project_id"] in standing
                ],
                _thresholds(panel),
            )
        except NotReady as not_ready:
            raise Refused(409, not_ready.message, type="panel-not-ready") from None
        results = {}
        for p in proposed:
            project = projects[p.project_id]
            results[p.project_id] = {
                **asdict(p),
                "title": project["title"],
                "institution_id": project["institution_id"],
                "prefecture": project["prefecture"],
                "status": "proposed",
                "proposed_result": p.result,
                "result": None,
                "overridden": None,
                "reason": None,
                "rectify_by": None,
                "confirmed_by": None,
                "confirmed_at": None,
                "history": [],
            }
        summary = {
            "group_count": calibration.group_count,
            "residual_sd_hundredths": calibration.residual_sd_hundredths,
            "converged": calibration.converged,
            "expert_offsets": [
                {"expert_id": o.expert_id, "review_count": o.review_count, "offset_hundredths": o.offset_hundredths}
                for o in calibration.offsets.values()
            ],
        }
        store.update_panel(
            panel["_id"],
            {"status": status, "results": results, "calibration": summary, "proposed_at": now},
            [entry.as_dict()],
        )
        store.emit(
            "panel_results_proposed",
            panel["_id"],
            {
                "panel_id": panel["_id"],
                "milestone": panel["milestone"],
                "results": [
                    {"project_id": p.project_id, "calibrated_hundredths": p.calibrated_hundredths, "result": p.result}
                    for p in proposed
                ],
            },
        )
        return with_rule(store.panel(panel["_id"]))

    return store.in_panel(panel_id, work)


# ---------------------------------------------------------------- confirm


def confirm_result(store: ReviewStore, panel_id: str, project_id: str, data: Mapping, by: str, now: datetime) -> dict:
    """The province confirms a project's proposed result, or overrides it with a reason; the
    result goes to funding (`panel_result_confirmed`) as the milestone's result. The panel
    closes when every result is confirmed."""

    def work(panel):
        results = dict(panel.get("results") or {})
        if panel["status"] not in ("proposed", "closed"):
            raise PANEL.refuse(panel["status"], "close")
        if project_id not in results:
            raise FieldErrors(
                {
                    "project_id": [
                        Bilingual(
                            f"project {project_id} has no proposed result in this panel",
                            f"项目 {project_id} 在该专家组中没有结论建议",
                        )
                    ]
                }
            )
        proposed = results[project_id]
        decision = decide(
            proposed,
            panel["milestone"],
            panel["_id"],
            _thresholds(panel),
            result=data.get("result"),
            reason=data.get("reason"),
            rectify_by=data.get("rectify_by"),
            rectify_days=panel["rectify_days"],
            now=now,
        )
        to, entry = PANEL_RESULT.apply(
            proposed["status"], "override" if decision.overridden else "confirm", by, decision.reason, now
        )
        results[project_id] = {
            **proposed,
            "status": to,
            "result": decision.result,
            "overridden": decision.overridden,
            "reason": decision.funding_reason,
            "rectify_by": decision.rectify_by,
            "confirmed_by": by,
            "confirmed_at": now,
            "history": [*proposed.get("history", []), entry.as_dict()],
        }
        changes, history = {"results": results}, []
        if all(r["status"] == "confirmed" for r in results.values()):
            changes["status"], closed = PANEL.apply(panel["status"], "close", by, None, now)
            history.append(closed.as_dict())
        store.update_panel(panel["_id"], changes, history)
        project = store.projects({"_id": project_id})[project_id]
        rectify = (
            {"milestone": panel["milestone"], "panel_id": panel["_id"], "by": decision.rectify_by, "told_at": None}
            if decision.result == "rectify"
            else None
        )
        store.set_project(
            project_id,
            {
                f"results.{panel['milestone']}": decision.result,
                "rectify": rectify,
                **({"state": FAILED} if decision.result == "fail" else {}),
            },
        )
        store.emit(
            "panel_result_confirmed",
            project_id,
            {
                "panel_id": panel["_id"],
                "project_id": project_id,
                "call_id": project["call_id"],
                "category": project["category"],
                "institution_id": project["institution_id"],
                "prefecture": project["prefecture"],
                "title": project["title"],
                "milestone": panel["milestone"],
                "result": decision.result,
                "proposed_result": proposed["proposed_result"],
                "overridden": decision.overridden,
                "calibrated_hundredths": proposed["calibrated_hundredths"],
                "reason": decision.funding_reason,
                "rectify_by": rfc3339(decision.rectify_by) if decision.rectify_by else None,
                "confirmed_by": by,
            },
        )
        return results[project_id]

    return store.in_panel(panel_id, work)


# ---------------------------------------------------------------- rectification deadlines


def tell_rectifications_due(store: ReviewStore, now: datetime) -> int:
    """Each project whose rectification deadline has passed with no later result of its
    milestone confirmed: `rectification_due` once per deadline (replicas running the timer at
    once tell once), so that the province reviews it again. Returns how many were told."""
    told = 0
    for project in store.rectifications_due(now):
        rectify = project["rectify"]

        def work(project=project, rectify=rectify):
            if not store.claim_rectification_notice(project["_id"], rectify["by"], now):
                return 0
            store.emit(
                "rectification_due",
                project["_id"],
                {
                    "project_id": project["_id"],
                    "panel_id": rectify["panel_id"],
                    "call_id": project["call_id"],
                    "category": project["category"],
                    "institution_id": project["institution_id"],
                    "prefecture": project["prefecture"],
                    "title": project["title"],
                    "milestone": rectify["milestone"],
                    "rectify_by": rfc3339(rectify["by"]),
                },
            )
            return 1

        told += store.atomic(work)
    return told


# ---------------------------------------------------------------- projects, from other services' events


def project_established(store: ReviewStore, data: Mapping) -> None:
    """Keep review's copy of a new project, with what its application's candidate record
    says of its fields, keywords and team (the conflict rules and the affinity)."""
    candidate = store.candidate(data["project_id"]) or {}
    store.keep_project(
        data["project_id"],
        {
            "call_id": data["call_id"],
            "category": data["category"],
            "year": data["year"],
            "institution_id": data["institution_id"],
            "prefecture": data["prefecture"],
            "title": data["title"],
            "institution_name": candidate.get("institution_name"),
            "industry_fields": candidate.get("industry_fields", []),
            "keywords": candidate.get("keywords", []),
            "team_person_keys": candidate.get("team_person_keys", []),
        },
    )


def project_failed(store: ReviewStore, data: Mapping) -> None:
    """A project failed a milestone (a panel's result or the province's direct record): it
    leaves, and no new panel takes it."""
    store.set_project(data["project_id"], {"state": FAILED, f"results.{data['milestone']}": "fail"})


def tranche_released(store: ReviewStore, data: Mapping) -> None:
    """A milestone's tranche released: the project passed that milestone, by a panel or by the
    province's direct record, so no new panel takes it for that milestone (and an acceptance
    panel may take it after a passed mid-term review). A rectification it was under is over."""
    trigger = data["tranche"]["trigger"]
    if trigger in ("mid_term", "acceptance"):
        store.set_project(data["project_id"], {f"results.{trigger}": "pass", "rectify": None})


def project_withdrawn(store: ReviewStore, data: Mapping) -> None:
    """The province withdrew a project (撤销): it leaves, and no new panel takes it."""
    store.set_project(data["project_id"], {"state": WITHDRAWN})
