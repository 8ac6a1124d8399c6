"""Calls (遴选批次): the province creates one (holding its quota of the category) and may open it
early; the timer opens and closes calls when their time comes; the province closes a window early,
extends it, or cancels a call. Opening and closing are announced (call_opened, call_closed)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain.applications import SUBMITTED_STATES
from services.applications.domain.calls import (
    DRAFT,
    call_year,
    check_call_quota,
    check_extension,
    due_events,
    released_on_cancel,
)
from services.common.actor import Actor
from services.applications.store import ApplicationsStore, as_answer, new_id
from services.applications.domain.messages import rfc3339
from services.common.statemachine import creation_entry

TIMER_ACTOR = "system:timer"
#: What call_opened tells of the call's terms, besides its id, window and year.
OPENED_TERMS = (
    "category",
    "title",
    "quota",
    "prefecture_cap",
    "per_institution_limit",
    "budget_min_fen",
    "budget_max_fen",
    "review_plan",
    "funding_rule",
)


def move(
    store: ApplicationsStore,
    doc: dict,
    event: str,
    actor: str,
    at: datetime,
    reason: str | None = None,
    changes: Mapping | None = None,
) -> dict:
    """Moves a call by its machine, announcing an opening and a closing (by the timer or early)."""
    moved = store.move_call(doc, event, actor, at, reason, changes)
    if event == "open":
        store.emit(
            "call_opened",
            moved["_id"],
            {
                "call_id": moved["_id"],
                "opens_at": rfc3339(moved["opens_at"]),
                "closes_at": rfc3339(moved["closes_at"]),
                "year": moved.get("year") or call_year(moved["opens_at"]),
                **{key: moved[key] for key in OPENED_TERMS},
            },
        )
    elif event in ("close", "close_early"):
        store.emit(
            "call_closed",
            moved["_id"],
            {
                "call_id": moved["_id"],
                "category": moved["category"],
                "closed_at": rfc3339(at),
                "submitted_count": store.count_applications(moved["_id"], SUBMITTED_STATES),
            },
        )
    return moved


def _advance(store: ApplicationsStore, doc: dict, at: datetime) -> dict:
    """Applies the timer's due events (open, close) to a call."""
    for event in due_events(doc["state"], doc["opens_at"], doc["closes_at"], at):
        doc = move(store, doc, event, TIMER_ACTOR, at)
    return doc


def create(store: ApplicationsStore, data: Mapping, actor: Actor, at: datetime) -> dict:
    """A draft call holding `quota` places of its category (QuotaExceeded past what is left);
    one whose time has come opens (and closes) at once."""
    category = store.catalogue[data["category"]]
    doc = {
        "_id": new_id("call"),
        **data,
        "year": data.get("year") or call_year(data["opens_at"]),
        "state": DRAFT,
        "history": [creation_entry(DRAFT, actor.audit_name, at).as_dict()],
        "created_at": at,
        "created_by": actor.audit_name,
    }

    def work():
        counter = store.quota_counter(category.code)
        check_call_quota(category, data["quota"], counter["selected"], counter["held"])
        store.hold_quota(category.code, data["quota"])
        store.insert_call(doc)
        return _advance(store, doc, at)

    return as_answer(store.atomic(work))


def open_early(store: ApplicationsStore, call_id: str, actor: Actor, at: datetime) -> dict:
    """The province opens a draft call before its opens_at: the window starts now."""

    def work():
        doc = store.call_doc(call_id)
        moved = move(
            store,
            doc,
            "open",
            actor.audit_name,
            at,
            "opened early by the province",
            {"opens_at": min(doc["opens_at"], at)},
        )
        return _advance(store, moved, at)

    return as_answer(store.atomic(work))


def advance_due(store: ApplicationsStore, at: datetime) -> int:
    """Opens and closes the calls whose time has come (the timer's work). Returns how many moved.
    Each call moves in its own transaction, from its state re-read there, so replicas running
    the timer at once move it once."""
    due = store.due_call_ids(at)
    for call_id in due:
        store.atomic(lambda: _advance(store, store.call_doc(call_id), at))
    return len(due)


def close_early(store: ApplicationsStore, call_id: str, actor: Actor, reason: str | None, at: datetime) -> dict:
    """The window ends now; the call goes on to recommendation and review as if its time had come."""

    def work():
        doc = store.call_doc(call_id)
        return move(
            store,
            doc,
            "close_early",
            actor.audit_name,
            at,
            reason or "closed early by the province",
            {"closes_at": min(doc["closes_at"], at)},
        )

    return store.atomic(work)


def extend(
    store: ApplicationsStore, call_id: str, actor: Actor, closes_at: datetime, reason: str | None, at: datetime
) -> dict:
    """A later closing time for an open call; every institution that has applied is told."""

    def work():
        doc = store.call_doc(call_id)
        check_extension(doc["closes_at"], closes_at, at)
        why = reason or f"extended from {rfc3339(doc['closes_at'])} to {rfc3339(closes_at)}"
        moved = move(store, doc, "extend", actor.audit_name, at, why, {"closes_at": closes_at})
        applicants = sorted({a["institution_id"] for a in store.open_applications_of(call_id)})
        store.emit(
            "call_extended",
            call_id,
            {
                "call_id": call_id,
                "category": doc["category"],
                "closes_at": rfc3339(closes_at),
                "previous_closes_at": rfc3339(doc["closes_at"]),
                "institution_ids": applicants,
            },
        )
        return moved

    return store.atomic(work)


def cancel(store: ApplicationsStore, call_id: str, actor: Actor, reason: str, at: datetime) -> dict:
    """All or nothing: the call is cancelled, each of its unsettled applications closed (the
    application's own history says why), exactly the quota it held released, and one
    call_cancelled tells the institutions that applied."""

    def work():
        doc = store.call_doc(call_id)
        released = released_on_cancel(doc["state"], doc["quota"])
        moved = move(store, doc, "cancel", actor.audit_name, at, reason)
        why = moved["history"][-1]["reason"]
        closed = []
        for application in store.open_applications_of(call_id):
            store.move_application(application, "close_with_call", actor.audit_name, at, why)
            closed.append(
                {
                    "application_id": application["_id"],
                    "institution_id": application["institution_id"],
                    "prefecture": application["prefecture"],
                    "from_state": application["state"],
                }
            )
        store.release_quota(doc["category"], released)
        store.emit(
            "call_cancelled",
            call_id,
            {
                "call_id": call_id,
                "category": doc["category"],
                "year": doc["year"],
                "reason": why,
                "released_quota": released,
                "closed_applications": closed,
            },
        )
        return moved

    return store.atomic(work)
