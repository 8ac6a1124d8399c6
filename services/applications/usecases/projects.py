"""Projects after approval: their money and milestones as funding reports them, their leaving
(动态调整), and the province's choice to give a left project's place to its call's reserve list."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain.projects import (
    ESTABLISHED,
    LEFT,
    RELEASED,
    WITHHELD,
    established_event,
    milestones_of,
    place_of,
    project_record,
    replaced_event,
    with_tranche,
)
from services.common.actor import Actor
from services.applications.domain.reserve import (
    check_place_available,
    check_place_free,
    check_reserve_valid,
    next_on_reserve,
)
from services.applications.store import ApplicationsStore

FUNDING_ACTOR = "system:funding"


class ProjectNotKnownYet(LookupError):
    """Funding spoke of a project whose selection_finalized is not handled here yet (it comes
    by another queue): the event is tried again, and dead-lettered if it never comes."""


def _project(store: ApplicationsStore, data: Mapping) -> dict:
    doc = store.project_doc(data["project_id"])
    if doc is None:
        raise ProjectNotKnownYet(f"project {data['project_id']} of call {data['call_id']} is not known yet")
    return doc


def establish(store: ApplicationsStore, project: dict) -> None:
    """A new project, announced (project_established); one per approved application: a repeat
    changes nothing."""
    if store.insert_project(project):
        store.emit("project_established", project["_id"], established_event(project))


def funds_allocated(store: ApplicationsStore, data: Mapping, at: datetime, why: str) -> None:
    """The award by source and the tranche plan; an established project starts construction.
    Runs inside the handler's transaction."""
    doc = _project(store, data)
    changes = {
        "award": dict(data["award"]),
        "milestones": milestones_of(data["tranches"]),
        "clawback_policy": data["clawback_policy"],
        "updated_at": at,
    }
    if doc["state"] == ESTABLISHED:
        store.move_project(doc, "fund", FUNDING_ACTOR, at, why, changes)
    else:
        store.update_project(doc["_id"], changes)


def tranche_moved(store: ApplicationsStore, name: str, data: Mapping, at: datetime) -> None:
    """A tranche released or withheld (with the milestone's reason): the project's milestone follows."""
    doc = _project(store, data)
    state = RELEASED if name == "tranche_released" else WITHHELD
    milestones = with_tranche(doc.get("milestones") or [], data["tranche"]["index"], state, data.get("reason"))
    store.update_project(doc["_id"], {"milestones": milestones, "updated_at": at})


def project_left(store: ApplicationsStore, name: str, data: Mapping, at: datetime) -> None:
    """The project failed a milestone (`project_failed`) or was withdrawn (`project_withdrawn`): it
    leaves (动态调整) and its place returns to its category, for a later call. A repeat changes nothing."""
    doc = _project(store, data)
    if doc["state"] in LEFT:
        return
    if name == "project_failed":
        transition, why = "fail", f"{data['milestone']} failed: {data['reason']}"
    else:
        transition, why = "withdraw", f"withdrawn: {data['reason']}"
    store.move_project(doc, transition, FUNDING_ACTOR, at, why, {"left_at": at, "updated_at": at})
    store.return_place(doc["_id"], doc["category"], at)


def give_place_to_reserve(store: ApplicationsStore, project_id: str, actor: Actor, at: datetime) -> dict:
    """The place of a project that left goes to its call's reserve list, while the list is valid:
    the best-ranked waiting application the call's cap admits is approved in its place and becomes
    a project (`project_established`), and `project_replaced` tells funding to award it by the
    call's rule. All or nothing: a refusal (see domain/reserve.py) changes nothing. Returns the
    new project."""

    def work():
        left = store.scoped_project_doc(project_id, actor)
        check_place_free(left)
        call = store.call_doc(left["call_id"])
        check_reserve_valid(call["_id"], call.get("reserve_valid_until"), at)
        check_place_available(store.catalogue[left["category"]], *store.category_standing(left["category"]))
        entry = next_on_reserve(
            call["_id"],
            call.get("reserve", []),
            store.reserve_waiting(call["_id"]),
            store.standing_by_prefecture(call["_id"]),
            call["prefecture_cap"],
        )
        why = (
            f"promoted from the reserve list (position {entry['reserve_position']}) to the place of project "
            f"{left['_id']}, which {left['state']}"
        )
        application = store.move_application(
            store.application_doc(entry["application_id"]), "promote", actor.audit_name, at, why
        )
        successor = project_record(application, call, entry["rank"], actor.audit_name, at, succeeds=left["_id"])
        store.give_place(left, successor, at)
        establish(store, successor)
        store.emit(
            "project_replaced",
            place_of(left["_id"]),
            replaced_event(left, successor, entry["reserve_position"], actor.audit_name),
        )
        return successor

    return store.atomic(work)
