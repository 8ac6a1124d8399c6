"""Calls to their end: the province closes a window early, extends it, or cancels a call."""
from __future__ import annotations

from datetime import datetime

from services.applications.domain.calls import check_extension, released_on_cancel
from services.applications.domain.recommendation import Actor
from services.applications.store import ApplicationsStore
from services.applications.domain.messages import rfc3339


def close_early(store: ApplicationsStore, call_id: str, actor: Actor, reason: str | None, at: datetime) -> dict:
    """The window ends now; the call goes on to recommendation and review as if its time had come."""
    def work():
        doc = store.call_doc(call_id)
        return store.move_call(doc, "close_early", actor.audit_name, at, reason or "closed early by the province",
                               {"closes_at": min(doc["closes_at"], at)})
    return store.atomic(work)


def extend(store: ApplicationsStore, call_id: str, actor: Actor, closes_at: datetime, reason: str | None,
           at: datetime) -> dict:
    """A later closing time for an open call; every institution that has applied is told."""
    def work():
        doc = store.call_doc(call_id)
        check_extension(doc["closes_at"], closes_at, at)
        why = reason or f"extended from {rfc3339(doc['closes_at'])} to {rfc3339(closes_at)}"
        moved = store.move_call(doc, "extend", actor.audit_name, at, why, {"closes_at": closes_at})
        applicants = sorted({a["institution_id"] for a in store.open_applications_of(call_id)})
        store.emit("call_extended", call_id, {
            "call_id": call_id, "category": doc["category"], "closes_at": rfc3339(closes_at),
            "previous_closes_at": rfc3339(doc["closes_at"]), "institution_ids": applicants})
        return moved
    return store.atomic(work)


def cancel(store: ApplicationsStore, call_id: str, actor: Actor, reason: str, at: datetime) -> dict:
    """All or nothing: the call is cancelled, each of its unsettled applications closed (the
    application's own history says why), exactly the quota it held released, and one
    call_cancelled tells the institutions that applied."""
    def work():
        doc = store.call_doc(call_id)
        released = released_on_cancel(doc["state"], doc["quota"])
        moved = store.move_call(doc, "cancel", actor.audit_name, at, reason)
        why = moved["history"][-1]["reason"]
        closed = []
        for application in store.open_applications_of(call_id):
            store.move_application(application, "close_with_call", actor.audit_name, at, why)
            closed.append({"application_id": application["_id"], "institution_id": application["institution_id"],
                           "prefecture": application["prefecture"], "from_state": application["state"]})
        store.release_quota(doc["category"], released)
        store.emit("call_cancelled", call_id, {
            "call_id": call_id, "category": doc["category"], "year": doc["year"], "reason": why,
            "released_quota": released, "closed_applications": closed})
        return moved
    return store.atomic(work)
