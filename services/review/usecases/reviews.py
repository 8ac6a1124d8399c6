"""An expert's review of one application: written and edited until the deadline on the call's
rubric, the application's reviews complete once every standing assignment has one, and what
an expert (or the province) may see of the others' reviews.

Each function is one unit of work over the store (a transaction, with its events); the
rules are the domain's (`domain/reviews.py`, `domain/calibration.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime

from services.common.bilingual import Bilingual
from services.common.replies import Refused
from services.review.domain.calibration import ReviewScore, calibrate
from services.review.domain.reviews import (
    ASSIGNMENT,
    STANDING,
    Review,
    Rubric,
    review_open,
    reviews_complete,
    visible_reviews,
    write_review,
)
from services.review.store import ReviewStore
from services.review.usecases.assignment import own_assignment


def put_review(store: ReviewStore, actor: Mapping, assignment_id: str, sheet: Mapping, by: str, now: datetime) -> dict:
    """Write or edit an expert's review of one application, on the call's rubric, until the
    review deadline and while the ranking is not published. Once every standing assignment
    of the application has its review, `reviews_completed` says so (once). Answers the
    review as `get_review` shows it."""
    assignment = own_assignment(store, actor, assignment_id)

    def work(call):
        current = store.assignment(assignment_id)
        if call["stage"] != "reviewing":
            raise Refused(
                409,
                Bilingual(
                    "The call's ranking is published: reviews are closed.", "该遴选批次的排名已发布，评审已结束。"
                ),
                type="review-closed",
            )
        previous = Review(**current["review"]) if current.get("review") else None
        written = write_review(
            Rubric.from_dicts(call["review_plan"]["rubric"]),
            application_id=current["application_id"],
            expert_id=current["expert_id"],
            scores=sheet["scores"],
            comments=sheet["comments"],
            now=now,
            deadline=call["review_deadline"],
            previous=previous,
        )
        status, entry = ASSIGNMENT.apply(current["status"], "submit", by, None, now)
        store.move_assignment(assignment_id, current["status"], status, entry.as_dict(), {"review": asdict(written)})
        store.emit(
            "review_submitted",
            current["application_id"],
            {
                "call_id": call["_id"],
                "assignment_id": assignment_id,
                "application_id": current["application_id"],
                "expert_id": current["expert_id"],
                "total_hundredths": written.total_hundredths,
            },
        )
        _complete_if_all_in(store, call, current["application_id"], now)
        return review_body(store, store.assignment(assignment_id), call, actor, now)

    return store.in_application(assignment["call_id"], assignment["application_id"], work)


def get_review(store: ReviewStore, actor: Mapping, assignment_id: str, now: datetime) -> dict:
    """An assignment's review sheet: the rubric, the expert's own review and, once the
    deadline has passed (always, for the province), the others' reviews under letters."""
    assignment = own_assignment(store, actor, assignment_id)
    return review_body(store, assignment, store.call(assignment["call_id"]), actor, now)


def _complete_if_all_in(store: ReviewStore, call: Mapping, application_id: str, now: datetime) -> None:
    """Mark the application's reviews complete, once, when every standing assignment has one."""
    candidate = store.candidate(application_id)
    if candidate.get("reviews_completed_at"):
        return
    standing = [a for a in store.assignments(application_id=application_id) if a["status"] in STANDING]
    if not reviews_complete([a["status"] for a in standing], call["review_plan"]["reviewers_per_application"]):
        return
    scores = calibrate(
        [ReviewScore(application_id, a["expert_id"], a["review"]["total_hundredths"]) for a in standing]
    ).scores[application_id]  # its raw mean, as the ranking shows it
    store.set_candidate(application_id, {"reviews_completed_at": now})
    store.emit(
        "reviews_completed",
        application_id,
        {
            "call_id": call["_id"],
            "application_id": application_id,
            "review_count": scores.review_count,
            "raw_mean_hundredths": scores.raw_mean_hundredths,
        },
    )


def review_body(store: ReviewStore, assignment: Mapping, call: Mapping, actor: Mapping, now: datetime) -> dict:
    """The review sheet as the actor may see it (ReviewOut)."""
    deadline = call.get("review_deadline") or now
    standing = [
        a
        for a in store.assignments(application_id=assignment["application_id"])
        if a["status"] in STANDING and a.get("review")
    ]
    reviews = [Review(**a["review"]) for a in standing]
    if actor["role"] == "expert":
        visible = visible_reviews(assignment["expert_id"], reviews, now=now, deadline=deadline)
    else:
        visible = reviews
    others = [r for r in visible if r.expert_id != assignment["expert_id"]]
    label = {a["expert_id"]: chr(ord("A") + i) for i, a in enumerate(standing)}
    own = next((r for r in reviews if r.expert_id == assignment["expert_id"]), None)
    return {
        "assignment_id": assignment["_id"],
        "call_id": assignment["call_id"],
        "application_id": assignment["application_id"],
        "application_title": assignment["application_title"],
        "status": assignment["status"],
        "review_deadline": call.get("review_deadline"),
        "editable": assignment["status"] in STANDING and call["stage"] == "reviewing" and review_open(now, deadline),
        "rubric": call["review_plan"]["rubric"],
        "review": asdict(own) if own else None,
        "others_visible": actor["role"] != "expert" or (own is not None and not review_open(now, deadline)),
        "others": [{**asdict(r), "reviewer": label[r.expert_id]} for r in others],
    }
