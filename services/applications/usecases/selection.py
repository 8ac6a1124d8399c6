"""Review's progress, followed from its events (each runs inside the handler's transaction):
experts assigned (the call goes into review, its eligible applications with it, and each
assigned expert may read the application's materials until the review deadline), the notice
published, and the selection finalized (the approved become projects and count toward their
category, the others wait on the call's reserve list)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain.applications import ELIGIBLE, IN_REVIEW
from services.applications.domain.calls import FINALIZED, IN_REVIEW as CALL_IN_REVIEW, NOTICED, call_year, catch_up
from services.applications.domain.projects import project_record
from services.applications.domain.reserve import reserve_valid_until
from services.applications.store import ApplicationsStore
from services.applications.usecases.calls import move as move_call
from services.applications.usecases.projects import establish

REVIEW_ACTOR = "system:review"


def _follow_review(store: ApplicationsStore, call_id: str, target: str, at: datetime, why: str) -> dict | None:
    """Walks a call on to `target`; returns the call, or None when it is not ours."""
    doc = store.find_call(call_id)
    if doc is None:
        return None
    for event in catch_up(doc["state"], target):
        doc = move_call(store, doc, event, REVIEW_ACTOR, at, why)
    return doc


def experts_assigned(store: ApplicationsStore, data: Mapping, at: datetime, why: str) -> None:
    """The call and its eligible applications that got experts go into review; each assigned
    expert may read the application's materials until the review deadline."""
    _follow_review(store, data["call_id"], CALL_IN_REVIEW, at, why)
    for doc in store.eligible_among(a["application_id"] for a in data["assignments"]):
        store.move_application(doc, "start_review", REVIEW_ACTOR, at, why)
    store.grant_expert_access(data["assignments"])


def assignment_declined(store: ApplicationsStore, data: Mapping) -> None:
    """An expert who declined an assignment no longer reads the application's materials."""
    store.revoke_expert_access(data["application_id"], data["expert_id"])


def notice_published(store: ApplicationsStore, call_id: str, at: datetime, why: str) -> None:
    _follow_review(store, call_id, NOTICED, at, why)


def selection_finalized(store: ApplicationsStore, data: Mapping, at: datetime, why: str) -> None:
    """The call is finalized and keeps its reserve list for a year; the approved count toward
    their category (and the call's held quota is released), each becomes a project
    (project_established), and every other eligible application of the call is passed over.
    A call is finalized once: a repeated selection for it changes nothing."""
    call = store.find_call(data["call_id"])
    if call is not None and call["state"] == FINALIZED:
        return
    _follow_review(store, data["call_id"], FINALIZED, at, why)
    store.keep_reserve(data["call_id"], data["reserve"], reserve_valid_until(at))
    approved = {entry["application_id"]: entry for entry in data["approved"]}
    store.settle_quota(data["category"], selected=len(approved), released=call["quota"] if call else 0)
    for application_id, entry in approved.items():
        store.record_selection(
            application_id,
            {
                "call_id": data["call_id"],
                "category": data["category"],
                "prefecture": entry["prefecture"],
                "institution_id": entry["institution_id"],
                "rank": entry["rank"],
                "selected_at": at,
                "year": call["year"] if call else call_year(at),
            },
        )
    for doc in store.applications_in(data["call_id"], (ELIGIBLE, IN_REVIEW)):
        event = "approve" if doc["_id"] in approved else "pass_over"
        moved = store.move_application(doc, event, REVIEW_ACTOR, at, why)
        if event == "approve":
            establish(store, project_record(moved, call, approved[doc["_id"]]["rank"], REVIEW_ACTOR, at))
