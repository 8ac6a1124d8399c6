"""Review's copy of the calls and of the applications under review (its candidates), kept
from applications' events: a call opened or closed, an application submitted, found
eligible or ineligible, or withdrawn. An application that leaves the review takes its
assignments with it, and after the ranking is published it leaves the current cut too.

Each function runs inside the event handler's transaction (`handle_once`), writing through
the store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from services.review.domain.reviews import ASSIGNMENT, STANDING
from services.review.store import ReviewStore
from services.review.usecases.assignment import void_excluded

EVENT_ACTOR = "service:applications"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def call_opened(store: ReviewStore, data: Mapping) -> None:
    store.touch_call(
        data["call_id"],
        {
            "$set": {
                "category": data["category"],
                "title": data["title"],
                "quota": data["quota"],
                "prefecture_cap": data["prefecture_cap"],
                "review_plan": data["review_plan"],
                "funding_rule": data["funding_rule"],
                "opens_at": parse_time(data["opens_at"]),
                "closes_at": parse_time(data["closes_at"]),
                "year": data["year"],
            }
        },
    )


def call_closed(store: ReviewStore, data: Mapping) -> None:
    store.touch_call(data["call_id"], {"$set": {"closed_at": parse_time(data["closed_at"])}})


def application_submitted(store: ReviewStore, data: Mapping) -> None:
    store.touch_call(data["call_id"], {"$addToSet": {"applied_institution_ids": data["institution_id"]}})


def eligibility_checked(store: ReviewStore, data: Mapping, now: datetime) -> None:
    """An eligible application becomes a candidate (and standing pairs its institution now
    excludes are voided); an ineligible one leaves the review."""
    store.touch_call(data["call_id"], {"$addToSet": {"applied_institution_ids": data["institution_id"]}})
    if not data["eligible"]:
        _leave(store, data["application_id"], "ineligible", data["reason"] or "found ineligible", now)
        return
    applicant = data["applicant"]
    store.keep_candidate(
        data["application_id"],
        {
            "call_id": data["call_id"],
            "institution_id": data["institution_id"],
            "prefecture": data["prefecture"],
            "category": data["category"],
            "status": "eligible",
            **{
                k: applicant[k]
                for k in (
                    "institution_name",
                    "title",
                    "summary",
                    "industry_fields",
                    "keywords",
                    "team_person_keys",
                    "budget_request_fen",
                )
            },
            "submitted_at": parse_time(applicant["submitted_at"]),
        },
    )
    void_excluded(store, data["call_id"], EVENT_ACTOR, now)


def application_withdrawn(store: ReviewStore, data: Mapping, now: datetime) -> None:
    _leave(store, data["application_id"], "withdrawn", data["reason"] or "withdrawn by the applicant", now)


def _leave(store: ReviewStore, application_id: str, status: str, why: str, now: datetime) -> None:
    """The application leaves the review: its assignments are void; after the ranking is
    published it leaves the current cut too (the reserve moves up) until finalization."""
    candidate = store.candidate(application_id)
    if candidate is None:
        return
    store.set_candidate(application_id, {"status": status})
    for a in store.assignments(application_id=application_id):
        if a["status"] in STANDING:
            to, entry = ASSIGNMENT.apply(a["status"], "void", EVENT_ACTOR, why, now)
            store.move_assignment(a["_id"], a["status"], to, entry.as_dict(), {"reason": entry.reason})
    call = store.known_call(candidate["call_id"])
    if call and call["stage"] in ("ranked", "published"):
        store.update_call(
            call["_id"],
            push={"left": application_id},
            history=[
                {
                    "subject": f"application:{application_id}",
                    "event": status,
                    "from_state": call["stage"],
                    "to_state": call["stage"],
                    "actor": EVENT_ACTOR,
                    "at": now,
                    "reason": why,
                }
            ],
        )
