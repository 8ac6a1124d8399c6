"""Applications (申报) from draft to the province's eligibility decision: an institution opens a
draft in an open call (within its per-institution limit), edits it while the call is open,
submits it (the automatic eligibility rules run and their findings are kept, nothing is decided)
or withdraws it; the recommending authority recommends it (within the call's cap per authority)
or declines it; the province confirms the findings or overrides them with a reason, and only
that decision emits `eligibility_checked`. Each command is one unit of work (the store's
transaction) with its event.

The places an institution or an authority takes against a limit are counter documents that
every concurrent command for them writes inside its transaction (the store's `take_*_place`):
the loser of a race conflicts, is retried and then sees the new count.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.applications.domain.applications import (
    APPLICATION_MACHINE,
    CONTENDING_STATES,
    DRAFT,
    RECOMMENDED,
    SUBMITTED_STATES,
    application_limit,
    check_can_open_draft,
    check_editable,
    check_fields_used,
    check_submittable,
)
from services.applications.domain.calls import DRAFT as CALL_DRAFT
from services.applications.domain.calls import check_accepting_applications, check_decisions_open
from services.applications.domain.eligibility import (
    EligibilityContext,
    Finding,
    applicant_snapshot,
    check_eligibility,
    decide_eligibility as decide,
)
from services.contracts.reference import Institution, Recommender
from services.applications.domain.materials import check_complete
from services.applications.domain.messages import Bilingual, NotRegistered, UnknownReference, rfc3339
from services.common.actor import Actor
from services.applications.domain.recommendation import check_may_recommend, check_recommendation_cap
from services.applications.store import ApplicationsStore, as_answer, new_id
from services.common.personal import protect
from services.common.statemachine import creation_entry

#: The states in which an application shows the automatic findings as they stand now.
FINDINGS_SHOWN = ("submitted", "recommended")


def _content(data: Mapping) -> dict:
    """The application's fields as kept: team members' personal data protected."""
    content = dict(data)
    if "team_members" in content:
        content["team_members"] = [protect(member) for member in content["team_members"]]
    return content


def _ref(doc: Mapping) -> dict:
    """What every application event says of its application."""
    return {key: doc[key] for key in ("call_id", "institution_id", "prefecture", "category")} | {
        "application_id": doc["_id"]
    }


def _institution_of(store: ApplicationsStore, doc: Mapping) -> Institution:
    return Institution.from_record(store.institution_doc(doc["institution_id"]))


def findings(store: ApplicationsStore, doc: Mapping, call: Mapping, institution: Institution) -> tuple[Finding, ...]:
    """The automatic eligibility rules on the application as it stands, against its call and
    the institution as registered now."""
    category = store.catalogue[call["category"]]
    one_per_prefecture = category.one_per_prefecture
    context = EligibilityContext(
        category=category,
        institution=institution,
        application=doc,
        budget_min_fen=call["budget_min_fen"],
        budget_max_fen=call["budget_max_fen"],
        per_institution_limit=call["per_institution_limit"],
        others_of_institution=store.count_others_in(doc, "institution_id", SUBMITTED_STATES),
        others_of_prefecture=store.count_others_in(doc, "prefecture", CONTENDING_STATES) if one_per_prefecture else 0,
        prefecture_already_selected=one_per_prefecture
        and store.prefecture_selected(category.code, institution.prefecture),
    )
    return check_eligibility(context)


def show(store: ApplicationsStore, application_id: str, actor: Actor) -> dict:
    """The application; until the province decides its eligibility, with the automatic
    findings as they stand now (others' recommendations and declines change them)."""
    doc = store.scoped_application_doc(application_id, actor)
    if doc["state"] in FINDINGS_SHOWN:
        call = store.call_doc(doc["call_id"])
        doc = {
            **doc,
            "eligibility_findings": [f.as_dict() for f in findings(store, doc, call, _institution_of(store, doc))],
        }
    return store.with_materials(doc)


def open_draft(store: ApplicationsStore, data: Mapping, actor: Actor, at: datetime) -> dict:
    """A draft for the call `data["call_id"]` by the actor's institution."""

    def work():
        call = store.find_call(data["call_id"])
        if call is None or (call["state"] == CALL_DRAFT and not store.sees_drafts(actor)):
            raise UnknownReference({"call_id": [Bilingual("no such call", "遴选批次不存在")]})
        institution = store.institution_doc(actor.institution_id)
        if institution is None:
            raise NotRegistered(
                Bilingual(
                    "your institution is not in the register: ask the province to register it",
                    "本单位尚未登记，请联系省级主管部门登记",
                )
            )
        check_accepting_applications(call["state"], call["opens_at"], call["closes_at"], at)
        category = store.catalogue[call["category"]]
        check_fields_used(category, data)
        check_can_open_draft(
            category,
            call["per_institution_limit"],
            store.take_institution_place(
                call["_id"], institution["_id"], application_limit(category, call["per_institution_limit"])
            ),
        )
        subject = Institution.from_record(institution)
        doc = {
            "_id": new_id("app"),
            **_content({k: v for k, v in data.items() if k != "call_id"}),
            "call_id": call["_id"],
            "category": category.code,
            "institution_id": institution["_id"],
            "institution_name": subject.name,
            "prefecture": subject.prefecture,
            "recommender": subject.recommender.as_dict(),
            "recommender_key": subject.recommender.key,
            "state": DRAFT,
            "history": [creation_entry(DRAFT, actor.audit_name, at).as_dict()],
            "eligibility_findings": [],
            "eligibility_decision": None,
            "submitted_at": None,
            "created_at": at,
            "updated_at": at,
            "created_by": actor.audit_name,
        }
        store.insert_application(doc)
        return doc

    return as_answer(store.atomic(work))


def _open_call_of(store: ApplicationsStore, doc: Mapping, at: datetime) -> dict:
    call = store.call_doc(doc["call_id"])
    check_accepting_applications(call["state"], call["opens_at"], call["closes_at"], at)
    return call


def update_draft(store: ApplicationsStore, application_id: str, changes: Mapping, actor: Actor, at: datetime) -> dict:
    """The draft's fields changed, while its call accepts applications."""

    def work():
        doc = store.scoped_application_doc(application_id, actor)
        check_editable(doc["state"])
        _open_call_of(store, doc, at)
        check_fields_used(store.catalogue[doc["category"]], changes)
        return store.update_application(doc, {**_content(changes), "updated_at": at})

    return as_answer(store.atomic(work))


def submit(store: ApplicationsStore, application_id: str, actor: Actor, at: datetime) -> dict:
    """The draft goes to its recommending authority, with every material kind the call requires
    filed; the automatic findings are kept with it. A material filed or removed at the same
    moment writes the application too, so one of the two is retried and sees the other."""

    def work():
        doc = store.scoped_application_doc(application_id, actor)
        call = _open_call_of(store, doc, at)
        APPLICATION_MACHINE.apply(doc["state"], "submit", actor.audit_name, None, at)  # refuse before checking content
        check_submittable(doc)
        check_complete(call.get("required_materials", []), store.filed_kinds(doc["_id"]))
        found = [f.as_dict() for f in findings(store, doc, call, _institution_of(store, doc))]
        moved = store.move_application(
            doc, "submit", actor.audit_name, at, None, {"eligibility_findings": found, "submitted_at": at}
        )
        store.emit(
            "application_submitted",
            doc["_id"],
            {**_ref(doc), "title": doc["title"], "submitted_at": rfc3339(at), "recommender": doc["recommender"]},
        )
        return moved

    return as_answer(store.atomic(work))


def withdraw(store: ApplicationsStore, application_id: str, actor: Actor, reason: str | None, at: datetime) -> dict:
    """The institution withdraws its application: its place in the call is free again, and so is
    its authority's recommendation when it had been recommended."""

    def work():
        doc = store.scoped_application_doc(application_id, actor)
        moved = store.move_application(doc, "withdraw", actor.audit_name, at, reason)
        store.release_institution_place(doc["call_id"], doc["institution_id"])
        if doc["state"] == RECOMMENDED:
            store.release_recommendation_place(doc["call_id"], doc["recommender_key"])
        store.emit(
            "application_withdrawn",
            doc["_id"],
            {**_ref(doc), "from_state": doc["state"], "reason": moved["history"][-1]["reason"]},
        )
        return moved

    return as_answer(store.atomic(work))


def _decide(
    store: ApplicationsStore,
    application_id: str,
    actor: Actor,
    event: str,
    reason: str | None,
    at: datetime,
    take_place,
) -> dict:
    doc = store.scoped_application_doc(application_id, actor)
    check_may_recommend(actor, Recommender(**doc["recommender"]))
    call = store.call_doc(doc["call_id"])
    check_decisions_open(call["state"])
    APPLICATION_MACHINE.apply(doc["state"], event, actor.audit_name, reason, at)  # refuse before taking a place
    take_place(doc, call)
    moved = store.move_application(doc, event, actor.audit_name, at, reason)
    name = "application_recommended" if event == "recommend" else "application_declined"
    store.emit(name, doc["_id"], {**_ref(doc), "by": actor.audit_name, "reason": moved["history"][-1]["reason"]})
    return moved


def recommend(store: ApplicationsStore, application_id: str, actor: Actor, reason: str | None, at: datetime) -> dict:
    """The recommending authority recommends the application, within the call's cap of
    recommendations per authority (RecommendationCapReached when they are all taken)."""

    def take_place(doc, call):
        cap = call["prefecture_cap"]
        check_recommendation_cap(cap, store.take_recommendation_place(call["_id"], doc["recommender_key"], cap))

    return as_answer(store.atomic(lambda: _decide(store, application_id, actor, "recommend", reason, at, take_place)))


def decline(store: ApplicationsStore, application_id: str, actor: Actor, reason: str, at: datetime) -> dict:
    """The recommending authority declines the application, with its reason."""
    return as_answer(
        store.atomic(lambda: _decide(store, application_id, actor, "decline", reason, at, lambda *_: None))
    )


def decide_eligibility(
    store: ApplicationsStore, application_id: str, actor: Actor, eligible: bool, reason: str | None, at: datetime
) -> dict:
    """The province confirms the automatic findings or overrides them with a reason; review
    hears of it (eligibility_checked), with the applicant as registered now."""

    def work():
        doc = store.scoped_application_doc(application_id, actor)
        call = store.call_doc(doc["call_id"])
        check_decisions_open(call["state"])
        institution = _institution_of(store, doc)
        found = findings(store, doc, call, institution)
        decision = decide(found, eligible, actor.audit_name, reason, at)
        moved = store.move_application(
            doc,
            decision.event,
            actor.audit_name,
            at,
            decision.reason,
            {"eligibility_findings": [f.as_dict() for f in found], "eligibility_decision": decision.as_dict()},
        )
        store.emit(
            "eligibility_checked",
            doc["_id"],
            {
                **_ref(doc),
                "eligible": decision.eligible,
                "overridden": decision.overridden,
                "decided_by": decision.actor,
                "reason": decision.reason,
                "findings": [f.as_dict() for f in found],
                "applicant": applicant_snapshot(institution, doc, doc["submitted_at"]),
            },
        )
        return moved

    return as_answer(store.atomic(work))
